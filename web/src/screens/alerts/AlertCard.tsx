// One alert as the Alerts screens show it: its report and the report's shape, when it fires,
// how often it is checked, where it goes, whether it is checked at all (an invalid alert
// says why, and that saving it again follows its report), and, to those who may change it,
// a test sent now with what its deliveries answered, changing and deleting it.
import { type ReactNode } from "react";
import { Alert as Callout, Anchor, Badge, Button, Card, Group, Stack, Text, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { patch, post } from "../../api/client";
import {
  type Alert,
  type AlertCheck,
  alertPath,
  alertPaths,
  describeCondition,
  describeDelivery,
  frequencyLabel,
  sentence,
} from "../../api/alerts";
import { type Bookmark, reportPath } from "../../api/boards";
import { formatValue } from "../../api/report";
import { ErrorNote, when } from "../common";
import { alertKeys } from "./queries";

export function StatusBadge({ alert }: { alert: Alert }) {
  const invalid = alert.status === "invalid";
  return (
    <Badge variant="dot" color={invalid ? "red" : "green"} data-testid="alert-status" data-status={alert.status}>
      {invalid ? "Invalid" : "Active"}
    </Badge>
  );
}

export function AlertCard({
  projectId,
  alert,
  bookmark,
  creator,
  linkName,
  manage,
  children,
}: {
  projectId: number;
  alert: Alert;
  /** The report it watches, when the caller finds it among the saved reports. */
  bookmark: Bookmark | undefined;
  /** Who made it (shown to those who see everyone's alerts). */
  creator?: string;
  /** Its name links to its own screen (on the list). */
  linkName: boolean;
  /** What those who may change it (its creator, or holders of `manage_all_alerts`, with
   * `create_alerts`) may do besides a test. */
  manage?: { onEdit: () => void; onDelete: () => void };
  children?: ReactNode;
}) {
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: alertKeys.all(projectId) });
  const test = useMutation({
    mutationFn: () => post<AlertCheck>(alertPaths.test(projectId, alert.id)),
    onSettled: refresh,
  });
  // Saving it unchanged follows its report's current shape.
  const resave = useMutation({
    mutationFn: () => patch<Alert>(alertPaths.one(projectId, alert.id), {}),
    onSuccess: refresh,
  });
  const invalid = alert.status === "invalid";
  return (
    <Card withBorder component="section" aria-label={`Alert ${alert.name}`} data-testid="alert" data-alert-id={alert.id} data-status={alert.status}>
      <Stack gap="xs">
        {linkName ? (
          <Group justify="space-between" wrap="nowrap" align="flex-start">
            <Title order={2} size="h4">
              <Anchor component={Link} to={alertPath(projectId, alert.id)}>
                {alert.name}
              </Anchor>
            </Title>
            <StatusBadge alert={alert} />
          </Group>
        ) : (
          // On its own screen, whose title names it.
          <Group gap="xs">
            <Text size="sm" fw={700}>
              Status:
            </Text>
            <StatusBadge alert={alert} />
          </Group>
        )}
        {invalid && (
          <Callout color="red" variant="light" title="This alert is not checked" role="status" data-testid="alert-invalid-reason">
            <Stack gap={6}>
              <Text size="sm">{sentence(alert.invalid_reason) || "Its report no longer fits it."}</Text>
              <Text size="sm">
                Saving the alert again makes it follow its report's current shape{manage ? ": check that its condition still makes sense, then save it." : "."}
              </Text>
              {manage && (
                <Group gap="xs">
                  <Button size="compact-sm" variant="default" onClick={() => resave.mutate()} loading={resave.isPending} aria-label={`Save ${alert.name} again`}>
                    Save again
                  </Button>
                  <Button size="compact-sm" variant="subtle" onClick={manage.onEdit}>
                    Edit first
                  </Button>
                </Group>
              )}
              {resave.error && <ErrorNote error={resave.error} title="The alert was not saved" />}
            </Stack>
          </Callout>
        )}
        <Stack gap={2}>
          <Text size="sm" data-testid="alert-report">
            <b>Report:</b>{" "}
            {bookmark ? (
              <Anchor component={Link} to={reportPath(projectId, bookmark.report)}>
                {bookmark.name}
              </Anchor>
            ) : (
              `Report ${alert.bookmark_id}`
            )}{" "}
            <Text span c="dimmed" size="sm">
              ({alert.report_shape})
            </Text>
          </Text>
          <Text size="sm" data-testid="alert-condition">
            <b>Condition:</b> {describeCondition(alert.condition)}
          </Text>
          <Text size="sm" data-testid="alert-frequency">
            <b>Checked:</b> {frequencyLabel(alert.frequency)}
            {!invalid && alert.next_check_at && (
              <Text span c="dimmed" size="sm">
                {" "}
                (next: {when(alert.next_check_at)})
              </Text>
            )}
          </Text>
          <Text size="sm" data-testid="alert-emails">
            <b>E-mails:</b> {alert.emails.length > 0 ? alert.emails.join(", ") : "None"}
          </Text>
          <Text size="sm" data-testid="alert-webhook">
            <b>Webhook:</b>{" "}
            {alert.webhook ? (
              <>
                <Text span size="sm" style={{ overflowWrap: "anywhere" }}>
                  {alert.webhook.url}
                </Text>
                {alert.webhook.username && ` (as ${alert.webhook.username}${alert.webhook.has_password ? ", with a password" : ""})`}
              </>
            ) : (
              "None"
            )}
          </Text>
          {creator && (
            <Text size="sm" data-testid="alert-creator">
              <b>Created by:</b> {creator}
            </Text>
          )}
        </Stack>
        <Group gap="xs">
          {manage && (
            <Button size="compact-sm" variant="default" onClick={() => test.mutate()} loading={test.isPending} aria-label={`Send test alert for ${alert.name}`}>
              Send test alert
            </Button>
          )}
          {linkName && (
            <Button component={Link} to={alertPath(projectId, alert.id)} size="compact-sm" variant="default" aria-label={`History of ${alert.name}`}>
              History
            </Button>
          )}
          {manage && (
            <Button size="compact-sm" variant="default" onClick={manage.onEdit} aria-label={`Edit ${alert.name}`}>
              Edit
            </Button>
          )}
          {manage && (
            <Button size="compact-sm" color="red" variant="light" onClick={manage.onDelete} aria-label={`Delete ${alert.name}`}>
              Delete
            </Button>
          )}
        </Group>
        {test.data && <TestResult check={test.data} />}
        {test.error && <ErrorNote error={test.error} title="The test alert was not sent" />}
        {children}
      </Stack>
    </Card>
  );
}

/** What a test sent now found, and what its deliveries answered. */
function TestResult({ check }: { check: AlertCheck }) {
  const delivery = describeDelivery(check.delivery);
  return (
    <Callout
      color={check.delivered ? "green" : "red"}
      variant="light"
      title={check.delivered ? "Test alert delivered" : "Test alert not delivered"}
      role={check.delivered ? "status" : "alert"}
      data-testid="alert-test-result"
      data-delivered={check.delivered}
    >
      <Text size="sm">
        The value is {formatValue(check.value)}
        {check.previous != null ? `, against ${formatValue(check.previous)} the period before` : ""}.
      </Text>
      {delivery && (
        <Text size="sm" data-testid="alert-test-delivery">
          {delivery}
        </Text>
      )}
    </Callout>
  );
}
