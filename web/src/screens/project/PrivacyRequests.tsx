// Project settings › Privacy requests (GDPR and CCPA): for those who handle them
// (`manage_privacy_requests`: the project's Owners and Admins), a request to retrieve or to
// delete what is stored of some users (a deletion confirmed first), and the project's
// requests with where each stands, read again every few seconds while one runs; a finished
// retrieval downloads, a deletion not yet started may be cancelled.
import { useState } from "react";
import { Alert, Anchor, Badge, Button, Card, Code, Group, Radio, Select, Stack, Table, Text, Textarea, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { del, get, post } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import {
  COMPLIANCE_TYPES,
  DISCLOSURE_TYPES,
  MAX_DISTINCT_IDS,
  PRIVACY_KINDS,
  type PrivacyKind,
  type PrivacyRequest,
  type PrivacyTask,
  distinctIdsOf,
  pollInterval,
  privacyBody,
  privacyPaths,
  statusOf,
} from "../../api/privacy";
import { ConfirmDialog } from "../boards/BoardDialogs";
import { Empty, ErrorNote, NotAllowed, QueryView, Screen, when } from "../common";

const privacyKey = (projectId: number) => ["project", projectId, "privacy-requests"] as const;

function usePrivacyRequests(projectId: number, enabled: boolean) {
  return useQuery({
    queryKey: privacyKey(projectId),
    queryFn: ({ signal }) => get<PrivacyRequest[]>(privacyPaths.list(projectId), signal),
    enabled,
    // A request runs in the background: its status is read again until it ends.
    refetchInterval: (query) => pollInterval(query.state.data),
  });
}

export function PrivacyRequests() {
  const projectId = Number(useParams().projectId);
  const { project } = useCurrent();
  const allowed = mayInProject(project, "manage_privacy_requests");
  const requests = usePrivacyRequests(projectId, allowed);
  return (
    <Screen title="Privacy requests">
      <Text size="sm" c="dimmed">
        Requests under the GDPR or the CCPA to retrieve or to delete what the project stores of some users: their events and profiles,
        including every id merged with theirs, whatever a data view or classification hides.
      </Text>
      {allowed ? (
        <>
          <NewRequest projectId={projectId} />
          <Card withBorder component="section" aria-label="Requests">
            <Stack gap="sm">
              <Title order={2} size="h4">
                Requests
              </Title>
              <QueryView query={requests}>
                {(list) => (list.length === 0 ? <Empty>No privacy request yet.</Empty> : <RequestsTable projectId={projectId} requests={list} />)}
              </QueryView>
            </Stack>
          </Card>
        </>
      ) : (
        <NotAllowed>Only the project's Owners and Admins handle privacy requests.</NotAllowed>
      )}
    </Screen>
  );
}

/** The form: which request, whose data (ids one a line), and under which law. */
function NewRequest({ projectId }: { projectId: number }) {
  const queryClient = useQueryClient();
  const [kind, setKind] = useState<PrivacyKind>("retrieval");
  const [text, setText] = useState("");
  const [compliance, setCompliance] = useState("GDPR");
  const [disclosure, setDisclosure] = useState("Data");
  const [confirming, setConfirming] = useState(false);
  const ids = distinctIdsOf(text);
  const tooMany = ids.length > MAX_DISTINCT_IDS;
  const send = useMutation({
    mutationFn: (body: { kind: PrivacyKind; ids: string[] }) =>
      post<PrivacyTask>(privacyPaths.create(projectId, body.kind), privacyBody(body.kind, body.ids, compliance, disclosure)),
    onSuccess: () => {
      setText("");
      queryClient.invalidateQueries({ queryKey: privacyKey(projectId) });
    },
  });
  const sent = send.isSuccess ? send.variables : undefined;
  return (
    <Card withBorder component="section" aria-label="New privacy request">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (ids.length === 0 || tooMany) return;
          if (kind === "deletion") setConfirming(true);
          else send.mutate({ kind, ids });
        }}
      >
        <Stack gap="sm">
          <Title order={2} size="h4">
            New request
          </Title>
          <Radio.Group
            id="privacy-kind"
            label="Request"
            value={kind}
            onChange={(value) => {
              setKind(value as PrivacyKind);
              send.reset();
            }}
          >
            <Group mt={4}>
              {PRIVACY_KINDS.map((k) => (
                <Radio key={k.value} value={k.value} label={k.label} id={`privacy-kind-${k.value}`} />
              ))}
            </Group>
          </Radio.Group>
          <Textarea
            id="privacy-distinct-ids"
            label="Distinct ids"
            description={`One a line, at most ${MAX_DISTINCT_IDS}; every id merged with each is included`}
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            autosize
            minRows={3}
            maxRows={12}
            required
            error={tooMany ? `At most ${MAX_DISTINCT_IDS} distinct ids in one request` : undefined}
            styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
          />
          <Text size="xs" c="dimmed" aria-live="polite" data-testid="privacy-id-count">
            {ids.length === 1 ? "1 distinct id" : `${ids.length} distinct ids`}
          </Text>
          <Group align="flex-start" grow>
            <Select
              id="privacy-compliance"
              label="Compliance type"
              description={compliance === "CCPA" ? "A CCPA retrieval covers the last twelve months" : "A GDPR retrieval covers everything stored"}
              data={COMPLIANCE_TYPES}
              value={compliance}
              onChange={(value) => value && setCompliance(value)}
              allowDeselect={false}
            />
            {kind === "retrieval" && (
              <Select
                id="privacy-disclosure"
                label="Disclosure type"
                description="What the retrieval's document holds"
                data={DISCLOSURE_TYPES}
                value={disclosure}
                onChange={(value) => value && setDisclosure(value)}
                allowDeselect={false}
              />
            )}
          </Group>
          {kind === "deletion" && (
            <Text size="sm" c="red.8">
              A deletion removes their events and profiles for good, once it starts.
            </Text>
          )}
          {send.error && <ErrorNote error={send.error} title="The request was not made" />}
          {sent && send.data && (
            <Alert color="green" variant="light" title={sent.kind === "deletion" ? "Deletion requested" : "Retrieval requested"} data-testid="privacy-task">
              Tracking id <Code data-testid="privacy-task-id">{send.data.task_id}</Code>: it runs in the background and its status shows below.
            </Alert>
          )}
          <Group>
            <Button type="submit" id="privacy-submit" color={kind === "deletion" ? "red" : undefined} loading={send.isPending} disabled={ids.length === 0 || tooMany}>
              {kind === "deletion" ? "Request deletion" : "Request retrieval"}
            </Button>
          </Group>
        </Stack>
      </form>
      <ConfirmDialog
        opened={confirming}
        onClose={() => setConfirming(false)}
        title="Delete these users' data"
        confirm="Delete their data"
        onConfirm={() => send.mutateAsync({ kind: "deletion", ids })}
      >
        <Text>
          This permanently deletes the events and profiles of {ids.length === 1 ? "1 distinct id" : `${ids.length} distinct ids`}, and of every id
          merged with them, from every file of the project ({compliance}). It cannot be undone; the request can be cancelled only until it starts.
        </Text>
      </ConfirmDialog>
    </Card>
  );
}

/** The project's requests, newest first, with what may be done with each. */
function RequestsTable({ projectId, requests }: { projectId: number; requests: PrivacyRequest[] }) {
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: (trackingId: string) => del(privacyPaths.deletion(projectId, trackingId)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: privacyKey(projectId) }),
  });
  return (
    <Stack gap="xs">
      {cancel.error && <ErrorNote error={cancel.error} title="The deletion was not cancelled" />}
      <Table.ScrollContainer minWidth={820}>
        <Table striped aria-label="Privacy requests" data-testid="privacy-requests">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Request</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Distinct ids</Table.Th>
              <Table.Th>Compliance</Table.Th>
              <Table.Th>Requested by</Table.Th>
              <Table.Th>Requested</Table.Th>
              <Table.Th>Finished</Table.Th>
              <Table.Th>Result</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {requests.map((request) => {
              const status = statusOf(request.status);
              const ids = request.distinct_ids;
              return (
                <Table.Tr key={request.tracking_id} data-tracking-id={request.tracking_id} data-kind={request.kind} data-status={request.status}>
                  <Table.Td>
                    <Text size="sm">{request.kind === "deletion" ? "Deletion" : `Retrieval (${request.disclosure_type})`}</Text>
                    <Code fz="xs">{request.tracking_id}</Code>
                  </Table.Td>
                  <Table.Td>
                    <Badge variant="dot" color={status.color} data-testid="privacy-status" data-status={request.status}>
                      {status.label}
                    </Badge>
                  </Table.Td>
                  <Table.Td title={ids.slice(0, 20).join("\n") + (ids.length > 20 ? "\n…" : "")}>{ids.length}</Table.Td>
                  <Table.Td>{request.compliance_type}</Table.Td>
                  <Table.Td>{request.requesting_user || "—"}</Table.Td>
                  <Table.Td>{when(request.date_requested)}</Table.Td>
                  <Table.Td>{when(request.date_finished)}</Table.Td>
                  <Table.Td>
                    {request.kind === "retrieval" && request.status === "SUCCESS" && (
                      <Anchor
                        href={privacyPaths.download(projectId, request.tracking_id)}
                        download={`retrieval-${request.tracking_id}.json`}
                        size="sm"
                        aria-label={`Download retrieval ${request.tracking_id}`}
                      >
                        Download
                      </Anchor>
                    )}
                    {request.kind === "deletion" && request.status === "PENDING" && (
                      <Button
                        size="compact-sm"
                        variant="default"
                        onClick={() => cancel.mutate(request.tracking_id)}
                        loading={cancel.isPending && cancel.variables === request.tracking_id}
                        aria-label={`Cancel deletion ${request.tracking_id}`}
                      >
                        Cancel
                      </Button>
                    )}
                    {request.status === "FAILURE" && request.result && (
                      <Text size="sm" c="red.8" style={{ overflowWrap: "anywhere" }}>
                        {request.result}
                      </Text>
                    )}
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}
