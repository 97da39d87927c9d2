// Alerts: the caller's alerts on saved Insights and Funnels reports (everyone's, for those
// who manage all alerts), each with whether it is checked now; a new alert for those who may
// make one (`?report=<saved report id>` opens it on that report); and each alert's own
// screen with its checks, newest first.
import { useState } from "react";
import { Anchor, Button, Card, Group, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { del } from "../../api/client";
import { type Alert, type AlertCheck, alertPaths, alertable, describeDelivery } from "../../api/alerts";
import type { Bookmark } from "../../api/boards";
import { mayInProject, useCurrent } from "../../api/hooks";
import { formatValue } from "../../api/report";
import { ConfirmDialog } from "../boards/BoardDialogs";
import { memberName, useBookmarks, useMembers } from "../boards/queries";
import { Empty, ErrorNote, Loading, NotAllowed, QueryView, Screen, when } from "../common";
import { AlertCard } from "./AlertCard";
import { AlertDialog } from "./AlertDialog";
import { alertKeys, useAlert, useAlertHistory, useAlerts } from "./queries";

/** What the alert screens share: who may do what, and the names of reports and people. */
function useAlertContext(projectId: number) {
  const { me, project } = useCurrent();
  const may = (permission: string) => mayInProject(project, permission);
  const bookmarks = useBookmarks(projectId);
  const everyone = may("manage_all_alerts");
  const members = useMembers(projectId, everyone && may("view_project_settings"));
  const myId = me?.user.type === "user" ? me.user.id : undefined;
  return {
    may,
    bookmarks,
    bookmarkOf: (id: number) => bookmarks.data?.find((b) => b.id === id),
    // The list holds only the alerts the caller may change, given `create_alerts`.
    manages: may("create_alerts"),
    creatorOf: (alert: Alert) => (everyone ? (alert.created_by === myId ? "You" : memberName(members.data, alert.created_by)) : undefined),
  };
}

export function Alerts() {
  const projectId = Number(useParams().projectId);
  const [params, setParams] = useSearchParams();
  const context = useAlertContext(projectId);
  const { may, manages, bookmarks } = context;
  const queryClient = useQueryClient();
  const alerts = useAlerts(projectId);
  const fromReport = Number(params.get("report")) || undefined;
  const [editing, setEditing] = useState<Alert | "new" | null>(fromReport !== undefined && manages ? "new" : null);
  const [deleting, setDeleting] = useState<Alert | null>(null);
  const close = () => {
    setEditing(null);
    if (params.has("report")) setParams({}, { replace: true });
  };
  const noReports = bookmarks.data !== undefined && !bookmarks.data.some(alertable);
  return (
    <Screen
      title="Alerts"
      actions={
        manages && (
          <Button id="alert-new" onClick={() => setEditing("new")}>
            New alert
          </Button>
        )
      }
    >
      <Text size="sm" c="dimmed">
        An alert watches a saved Insights or Funnels report and tells members of the organization (by e-mail) or a webhook when its number
        crosses a value or changes by some amount.
        {may("manage_all_alerts") ? " You see everyone's alerts in this project." : " You see the alerts you made."}
      </Text>
      {!manages && <NotAllowed>Your role may not create alerts.</NotAllowed>}
      {manages && noReports && <NotAllowed>No saved Insights or Funnels report yet: save one to a board from Insights or Funnels, then make an alert on it.</NotAllowed>}
      <QueryView query={alerts}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No alert yet.</Empty>
          ) : (
            <SimpleGrid cols={{ base: 1, lg: 2 }} data-testid="alerts">
              {[...list]
                .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id)
                .map((alert) => (
                  <AlertItem
                    key={alert.id}
                    projectId={projectId}
                    listed={alert}
                    bookmark={context.bookmarkOf(alert.bookmark_id)}
                    creator={context.creatorOf(alert)}
                    manage={manages ? { onEdit: () => setEditing(alert), onDelete: () => setDeleting(alert) } : undefined}
                  />
                ))}
            </SimpleGrid>
          )
        }
      </QueryView>
      {manages && editing !== null && (
        <AlertDialog
          key={editing === "new" ? "new" : editing.id}
          projectId={projectId}
          alert={editing === "new" ? null : editing}
          bookmarkId={editing === "new" ? fromReport : undefined}
          onClose={close}
        />
      )}
      {manages && (
        <ConfirmDialog
          opened={deleting !== null}
          onClose={() => setDeleting(null)}
          title={`Delete ${deleting?.name ?? ""}`}
          confirm="Delete alert"
          onConfirm={async () => {
            if (!deleting) return;
            await del(alertPaths.one(projectId, deleting.id));
            await queryClient.invalidateQueries({ queryKey: alertKeys.all(projectId) });
          }}
        >
          <Text>It is no longer checked and sends nothing more. The saved report stays.</Text>
        </ConfirmDialog>
      )}
    </Screen>
  );
}

/** An alert of the list, as it stands now (the list says what its last check found). */
function AlertItem({
  projectId,
  listed,
  bookmark,
  creator,
  manage,
}: {
  projectId: number;
  listed: Alert;
  bookmark: Bookmark | undefined;
  creator: string | undefined;
  manage?: { onEdit: () => void; onDelete: () => void };
}) {
  const live = useAlert(projectId, listed.id, listed);
  const alert = live.data ?? listed;
  return <AlertCard projectId={projectId} alert={alert} bookmark={bookmark} creator={creator} linkName manage={manage} />;
}

/** `/projects/:projectId/alerts/:alertId`: one alert and its checks. */
export function AlertScreen() {
  const params = useParams();
  const projectId = Number(params.projectId);
  const alertId = Number(params.alertId);
  const alert = useAlert(projectId, alertId);
  if (alert.isPending) {
    return (
      <Screen title="Alert">
        <Loading />
      </Screen>
    );
  }
  if (alert.isError) {
    return (
      <Screen title="Alert">
        <ErrorNote error={alert.error} title="This alert cannot be opened" />
        <Anchor component={Link} to={`/projects/${projectId}/alerts`}>
          All alerts
        </Anchor>
      </Screen>
    );
  }
  return <AlertDetail key={alertId} projectId={projectId} alert={alert.data} />;
}

function AlertDetail({ projectId, alert }: { projectId: number; alert: Alert }) {
  const context = useAlertContext(projectId);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  return (
    <Screen title={alert.name}>
      <Group gap="xs">
        <Anchor component={Link} to={`/projects/${projectId}/alerts`} size="sm">
          ← Alerts
        </Anchor>
      </Group>
      <AlertCard
        projectId={projectId}
        alert={alert}
        bookmark={context.bookmarkOf(alert.bookmark_id)}
        creator={context.creatorOf(alert)}
        linkName={false}
        manage={context.manages ? { onEdit: () => setEditing(true), onDelete: () => setDeleting(true) } : undefined}
      />
      <Card withBorder component="section" aria-label="History">
        <Stack gap="sm">
          <Title order={2} size="h4">
            History
          </Title>
          <AlertHistory projectId={projectId} alert={alert} />
        </Stack>
      </Card>
      {context.manages && editing && <AlertDialog projectId={projectId} alert={alert} onClose={() => setEditing(false)} />}
      {context.manages && (
        <ConfirmDialog
          opened={deleting}
          onClose={() => setDeleting(false)}
          title={`Delete ${alert.name}`}
          confirm="Delete alert"
          onConfirm={async () => {
            await del(alertPaths.one(projectId, alert.id));
            // Only the list is read again: this screen, on its way out, would ask for the deleted alert.
            await queryClient.invalidateQueries({ queryKey: alertKeys.list(projectId) });
            navigate(`/projects/${projectId}/alerts`);
          }}
        >
          <Text>It is no longer checked and sends nothing more. The saved report stays.</Text>
        </ConfirmDialog>
      )}
    </Screen>
  );
}

const yesNo = (value: boolean) => (value ? "Yes" : "No");

/** An alert's checks and tests, newest first, with what each delivery answered. */
function AlertHistory({ projectId, alert }: { projectId: number; alert: Alert }) {
  const history = useAlertHistory(projectId, alert.id);
  return (
    <QueryView query={history}>
      {(checks: AlertCheck[]) =>
        checks.length === 0 ? (
          <Empty>
            Not checked yet.
            {alert.status === "active" && alert.next_check_at ? ` The first check is due ${when(alert.next_check_at)}.` : ""} Test alerts show here too.
          </Empty>
        ) : (
          <Table.ScrollContainer minWidth={760}>
            <Table striped aria-label={`Checks of ${alert.name}`} data-testid="alert-history">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Period</Table.Th>
                  <Table.Th>Checked</Table.Th>
                  <Table.Th>Value</Table.Th>
                  <Table.Th>Previous</Table.Th>
                  <Table.Th>Fired</Table.Th>
                  <Table.Th>Test</Table.Th>
                  <Table.Th>Delivered</Table.Th>
                  <Table.Th>Delivery</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {checks.map((check, i) => (
                  <Table.Tr
                    key={`${check.checked_at}-${check.period}-${i}`}
                    data-testid="alert-check"
                    data-test={check.test}
                    data-fired={check.fired}
                    data-delivered={check.delivered}
                  >
                    <Table.Td>{check.period}</Table.Td>
                    <Table.Td>{when(check.checked_at)}</Table.Td>
                    <Table.Td>{formatValue(check.value)}</Table.Td>
                    <Table.Td>{formatValue(check.previous)}</Table.Td>
                    <Table.Td>{yesNo(check.fired)}</Table.Td>
                    <Table.Td>{yesNo(check.test)}</Table.Td>
                    <Table.Td>{check.fired ? yesNo(check.delivered) : "—"}</Table.Td>
                    <Table.Td>
                      <Text size="sm" style={{ overflowWrap: "anywhere" }}>
                        {check.fired ? describeDelivery(check.delivery) || "Nowhere to send it" : "Not sent: the condition did not hold"}
                      </Text>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )
      }
    </QueryView>
  );
}
