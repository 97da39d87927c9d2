// Organization settings › Users & invitations: members with their organization role and,
// per project, their effective role and where each grant comes from; invitations by
// e-mail (several at once) or CSV with a result per row (a big file goes a batch of rows at a
// time, with its progress and a Cancel); pending invitations.
import { useEffect, useRef, useState } from "react";
import {
  Alert,
  Badge,
  Button,
  CopyButton,
  FileButton,
  Group,
  Progress,
  Select,
  Stack,
  Table,
  Text,
  Textarea,
  Title,
} from "@mantine/core";
import { useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { useParams } from "react-router-dom";
import { del, get, messageOf, post, put } from "../../api/client";
import { useMe, useOrganization } from "../../api/hooks";
import { type CsvInviteRun, INVITE_BATCH_ROWS, csvBatches, inviteInBatches } from "../../api/invitations";
import type { Body, Invitation, InvitationLink, InviteOutcome, OrgMember, OrgProject, ProjectMember } from "../../api/types";
import { DataTable } from "../DataTable";
import { ProjectRolePicker } from "./ProjectRolePicker";
import { Empty, ErrorNote, NotAllowed, ORG_ROLES, QueryView, roleLabel, Screen, when } from "../common";

export function Members() {
  const orgId = Number(useParams().orgId);
  const org = useOrganization(orgId);
  const may = (permission: string) => org.data?.your_permissions.includes(permission) ?? false;
  return (
    <Screen title="Users & invitations">
      <MemberTable orgId={orgId} may={may} />
      {org.data &&
        (may("manage_members") ? (
          <>
            <InviteForm orgId={orgId} mayGrantOwner={may("grant_org_owner")} />
            <PendingInvitations orgId={orgId} />
          </>
        ) : (
          <NotAllowed>Only Owners and Admins invite people to the organization.</NotAllowed>
        ))}
    </Screen>
  );
}

interface ProjectGrants {
  project: string;
  grants: { source: string; role: string }[];
}

function MemberTable({ orgId, may }: { orgId: number; may: (permission: string) => boolean }) {
  const queryClient = useQueryClient();
  const { data: me } = useMe();
  const myId = me?.user.type === "user" ? me.user.id : undefined;
  const members = useQuery({
    queryKey: ["org", orgId, "members"],
    queryFn: ({ signal }) => get<OrgMember[]>(`/api/app/organizations/${orgId}/members`, signal),
  });
  const projects = useQuery({
    queryKey: ["org", orgId, "projects"],
    queryFn: ({ signal }) => get<OrgProject[]>(`/api/app/organizations/${orgId}/projects`, signal),
  });
  // Effective project roles, for the projects whose members the caller may see.
  const visible = (projects.data ?? []).filter((p) => p.your_permissions.includes("view_project_settings"));
  const projectMembers = useQueries({
    queries: visible.map((project) => ({
      queryKey: ["project", project.id, "members"],
      queryFn: ({ signal }: { signal: AbortSignal }) => get<ProjectMember[]>(`/api/app/projects/${project.id}/members`, signal),
    })),
  });
  const grantsOf = (userId: number): ProjectGrants[] =>
    visible.flatMap((project, i) => {
      const member = projectMembers[i]?.data?.find((m) => m.principal.type === "user" && m.principal.id === userId);
      return member ? [{ project: project.name, grants: member.grants }] : [];
    });
  const [error, setError] = useState<unknown>(null);
  const change = useMutation({
    mutationFn: ({ userId, role }: { userId: number; role: string }) =>
      put(`/api/app/organizations/${orgId}/members/${userId}`, { role }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["org", orgId] }),
    onError: setError,
  });
  const remove = useMutation({
    mutationFn: (userId: number) => del(`/api/app/organizations/${orgId}/members/${userId}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["org", orgId] }),
    onError: setError,
  });
  const resetFactor = useMutation({
    mutationFn: (userId: number) => del(`/api/app/organizations/${orgId}/members/${userId}/two-factor`),
    onError: setError,
  });
  const column = createColumnHelper<OrgMember>();
  const roles = ORG_ROLES.filter((role) => role.value !== "owner" || may("grant_org_owner"));
  const columns = [
    column.accessor("name", { header: "Name", cell: (c) => c.getValue() || "—" }),
    column.accessor("email", { header: "E-mail" }),
    column.accessor("role", {
      header: "Organization role",
      cell: (c) => {
        const member = c.row.original;
        const editable = may("modify_org_roles") && member.user_id !== myId && (member.role !== "owner" || may("grant_org_owner"));
        return editable ? (
          <Select
            aria-label={`Organization role of ${member.email}`}
            data={roles}
            value={member.role}
            allowDeselect={false}
            onChange={(role) => role && change.mutate({ userId: member.user_id, role })}
            w={160}
          />
        ) : (
          <Badge variant="light">{roleLabel(member.role)}</Badge>
        );
      },
    }),
    column.display({
      id: "projects",
      header: "Project roles (source)",
      cell: (c) => {
        const rows = grantsOf(c.row.original.user_id);
        if (rows.length === 0) return <Text size="sm" c="dimmed">—</Text>;
        return (
          <Stack gap={2}>
            {rows.map((row) => (
              <Text size="sm" key={row.project}>
                {row.project}: {row.grants.map((g) => `${roleLabel(g.role)} (${g.source})`).join(", ")}
              </Text>
            ))}
          </Stack>
        );
      },
    }),
    column.accessor("joined", { header: "Joined", cell: (c) => when(c.getValue()) }),
    column.display({
      id: "actions",
      header: "Actions",
      cell: (c) => {
        const member = c.row.original;
        if (member.user_id === myId) return null;
        return (
          <Group gap="xs" wrap="nowrap">
            {may("manage_security") && (
              <Button size="compact-xs" variant="default" onClick={() => resetFactor.mutate(member.user_id)}>
                Reset 2FA
              </Button>
            )}
            {may("manage_members") && (
              <Button
                size="compact-xs"
                color="red"
                variant="light"
                onClick={() => window.confirm(`Remove ${member.email} from the organization?`) && remove.mutate(member.user_id)}
              >
                Remove
              </Button>
            )}
          </Group>
        );
      },
    }),
  ];
  return (
    <Stack gap="xs">
      <Title order={2} size="h4">
        Members
      </Title>
      {error != null && <ErrorNote error={error} />}
      <QueryView query={members}>
        {(rows) => <DataTable data={rows} columns={columns} label="Members" testId="members" />}
      </QueryView>
    </Stack>
  );
}

function InviteForm({ orgId, mayGrantOwner }: { orgId: number; mayGrantOwner: boolean }) {
  const queryClient = useQueryClient();
  const [emails, setEmails] = useState("");
  const [role, setRole] = useState("member");
  const [projectId, setProjectId] = useState<string | null>(null);
  const [projectRole, setProjectRole] = useState<string>("consumer");
  const [outcome, setOutcome] = useState<InviteOutcome | null>(null);
  const projects = useQuery({
    queryKey: ["org", orgId, "projects"],
    queryFn: ({ signal }) => get<OrgProject[]>(`/api/app/organizations/${orgId}/projects`, signal),
  });
  const invite = useMutation({
    mutationFn: () => {
      const list = emails
        .split(/[\s,;]+/)
        .map((e) => e.trim())
        .filter(Boolean);
      const grants = projectId ? [{ id: Number(projectId), role: projectRole }] : [];
      return post<InviteOutcome>(`/api/app/organizations/${orgId}/invitations`, {
        invitations: list.map((email) => ({ email, organization_role: role, projects: grants })),
      } satisfies Body<"InviteRequest">);
    },
    onSuccess: (result) => {
      setOutcome(result);
      if (result.failed === 0) setEmails("");
      queryClient.invalidateQueries({ queryKey: ["org", orgId, "invitations"] });
    },
  });
  const csv = useCsvInvite(orgId, setOutcome);
  const csvReset = useRef<() => void>(null);
  return (
    <Stack gap="xs" component="section" aria-label="Invite people">
      <Title order={2} size="h4">
        Invite people
      </Title>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          csv.clear();
          invite.mutate();
        }}
      >
        <Stack gap="sm" maw={640}>
          <Textarea
            id="invite-emails"
            label="E-mail addresses"
            description="One or several, separated by commas or new lines."
            value={emails}
            onChange={(e) => setEmails(e.currentTarget.value)}
            required
            autosize
            minRows={2}
          />
          <Group grow align="flex-end">
            <Select
              id="invite-role"
              label="Organization role"
              data={ORG_ROLES.filter((r) => r.value !== "owner" || mayGrantOwner)}
              value={role}
              onChange={(value) => value && setRole(value)}
              allowDeselect={false}
            />
            <ProjectRolePicker
              idPrefix="invite"
              projects={projects.data ?? []}
              projectId={projectId}
              onProject={setProjectId}
              role={projectRole}
              onRole={setProjectRole}
            />
          </Group>
          <Group>
            <Button type="submit" loading={invite.isPending} disabled={csv.sending} id="invite-submit">
              Send invitations
            </Button>
            <FileButton
              onChange={(file) => {
                csvReset.current?.();
                if (file) {
                  invite.reset();
                  csv.start(file);
                }
              }}
              accept=".csv,text/csv"
              resetRef={csvReset}
            >
              {(props) => (
                <Button variant="default" loading={csv.sending} disabled={invite.isPending} id="invite-csv" {...props}>
                  Upload a CSV…
                </Button>
              )}
            </FileButton>
          </Group>
          <Text size="xs" c="dimmed">
            CSV with a header line naming its columns: email, organization_role, projects (project ids separated by ;), project_role. A big
            file goes {INVITE_BATCH_ROWS} rows at a time.
          </Text>
          {csv.progress && <CsvProgress progress={csv.progress} onCancel={csv.cancel} />}
        </Stack>
      </form>
      {invite.error && <ErrorNote error={invite.error} />}
      {csv.run?.error != null && (
        <ErrorNote error={csv.run.error} title={csv.run.nAnswered > 0 ? "The CSV upload stopped" : "No invitation was sent from the CSV file"} />
      )}
      {csv.run && csv.run.nUnanswered > 0 && (csv.run.nAnswered > 0 || csv.run.cancelled) && <CsvUnsentNote run={csv.run} />}
      {outcome && (
        <Alert color={outcome.failed ? "yellow" : "green"} title={`${outcome.sent} sent, ${outcome.failed} failed`} data-testid="invite-outcome">
          <Table>
            <Table.Tbody>
              {outcome.rows.map((row) => (
                <Table.Tr key={row.row}>
                  <Table.Td>{row.row}</Table.Td>
                  <Table.Td>{row.email}</Table.Td>
                  <Table.Td>{row.status === "ok" ? "sent" : row.error}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Alert>
      )}
    </Stack>
  );
}

/** A CSV file's invitations: sent in batches, with where they stand and a way to stop. */
function useCsvInvite(orgId: number, onOutcome: (outcome: InviteOutcome | null) => void) {
  const queryClient = useQueryClient();
  const controller = useRef<AbortController | null>(null);
  const [progress, setProgress] = useState<{ nAnswered: number; nRows: number } | null>(null);
  const [sending, setSending] = useState(false);
  const [run, setRun] = useState<CsvInviteRun | null>(null);
  // Leaving the screen stops the batches not yet sent.
  useEffect(() => () => controller.current?.abort(), []);
  const start = async (file: File) => {
    controller.current?.abort();
    const current = new AbortController();
    controller.current = current;
    setSending(true);
    setRun(null);
    onOutcome(null);
    try {
      const plan = csvBatches(await file.text());
      const batched = plan.batches.length > 1;
      setProgress(batched ? { nAnswered: 0, nRows: plan.nRows } : null);
      const send = (text: string, signal: AbortSignal) =>
        post<InviteOutcome>(
          `/api/app/organizations/${orgId}/invitations/csv`,
          // A file of one batch goes as it is, byte for byte.
          batched ? new Blob([text], { type: "text/csv" }) : new Blob([file], { type: "text/csv" }),
          signal,
        );
      const finished = await inviteInBatches(plan, send, current.signal, (nAnswered) =>
        setProgress(batched ? { nAnswered, nRows: plan.nRows } : null),
      );
      if (controller.current !== current) return;
      setRun(finished);
      if (finished.nAnswered > 0 || (finished.error == null && !finished.cancelled)) onOutcome(finished.outcome);
    } catch (failure) {
      // The file itself could not be read.
      if (controller.current === current) setRun({ outcome: { sent: 0, failed: 0, rows: [] }, nAnswered: 0, nUnanswered: 0, nInFlight: 0, cancelled: false, error: failure });
    } finally {
      if (controller.current === current) {
        setSending(false);
        setProgress(null);
        // Even a cancelled batch may have invited some of its rows.
        queryClient.invalidateQueries({ queryKey: ["org", orgId, "invitations"] });
      }
    }
  };
  return {
    start,
    sending,
    progress,
    run,
    cancel: () => controller.current?.abort(),
    clear: () => setRun(null),
  };
}

function CsvProgress({ progress, onCancel }: { progress: { nAnswered: number; nRows: number }; onCancel: () => void }) {
  const { nAnswered, nRows } = progress;
  const text = `Inviting ${nAnswered} of ${nRows}…`;
  return (
    <Stack gap={4} data-testid="csv-invite-progress-box">
      <Text size="sm" id="csv-invite-progress-label" aria-live="polite">
        {text}
      </Text>
      <Group gap="sm" wrap="nowrap">
        <Progress.Root
          id="csv-invite-progress"
          role="progressbar"
          aria-labelledby="csv-invite-progress-label"
          aria-valuemin={0}
          aria-valuemax={nRows}
          aria-valuenow={nAnswered}
          aria-valuetext={text}
          size="lg"
          style={{ flex: 1 }}
        >
          <Progress.Section value={nRows > 0 ? (100 * nAnswered) / nRows : 0} withAria={false} />
        </Progress.Root>
        <Button id="csv-invite-cancel" variant="default" size="compact-sm" onClick={onCancel}>
          Cancel
        </Button>
      </Group>
    </Stack>
  );
}

/** How many rows of a CSV file got no answer, and why. */
function CsvUnsentNote({ run }: { run: CsvInviteRun }) {
  const total = run.nAnswered + run.nUnanswered;
  const notSent = run.nUnanswered - run.nInFlight;
  return (
    <Alert color="yellow" title={run.cancelled ? "CSV upload cancelled" : "CSV upload incomplete"} data-testid="csv-invite-unsent">
      {`${notSent} of ${total} rows ${notSent === 1 ? "was" : "were"} not sent.`}
      {run.nInFlight > 0 &&
        ` ${run.nInFlight} more ${run.nInFlight === 1 ? "was" : "were"} on the way when you cancelled and may have been invited in part: Pending invitations shows who was.`}
      {run.nAnswered > 0 && ` The results below are those of the first ${run.nAnswered} rows.`}
    </Alert>
  );
}

function PendingInvitations({ orgId }: { orgId: number }) {
  const queryClient = useQueryClient();
  const invitations = useQuery({
    queryKey: ["org", orgId, "invitations"],
    queryFn: ({ signal }) => get<Invitation[]>(`/api/app/organizations/${orgId}/invitations`, signal),
  });
  const [links, setLinks] = useState<Record<number, string>>({});
  const [error, setError] = useState<unknown>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["org", orgId, "invitations"] });
  const act = async (action: () => Promise<unknown>) => {
    setError(null);
    try {
      await action();
      refresh();
    } catch (failure) {
      setError(failure);
    }
  };
  const column = createColumnHelper<Invitation>();
  const columns = [
    column.accessor("email", { header: "E-mail" }),
    column.accessor("organization_role", { header: "Role", cell: (c) => roleLabel(c.getValue()) }),
    column.accessor("last_sent", { header: "Last sent", cell: (c) => when(c.getValue()) }),
    column.accessor("expires", { header: "Expires", cell: (c) => when(c.getValue()) }),
    column.display({
      id: "actions",
      header: "Actions",
      cell: (c) => {
        const invitation = c.row.original;
        const link = links[invitation.id];
        return (
          <Group gap="xs" wrap="nowrap">
            <Button size="compact-xs" variant="default" onClick={() => act(() => post(`/api/app/organizations/${orgId}/invitations/${invitation.id}/resend`))}>
              Resend
            </Button>
            {link ? (
              <CopyButton value={link}>
                {({ copied, copy }) => (
                  <Button size="compact-xs" variant="light" onClick={copy} data-link={link}>
                    {copied ? "Copied" : "Copy link"}
                  </Button>
                )}
              </CopyButton>
            ) : (
              <Button
                size="compact-xs"
                variant="default"
                onClick={() =>
                  act(async () => {
                    const fresh = await post<InvitationLink>(`/api/app/organizations/${orgId}/invitations/${invitation.id}/link`);
                    setLinks((all) => ({ ...all, [invitation.id]: fresh.link }));
                  })
                }
              >
                Get link
              </Button>
            )}
            <Button size="compact-xs" color="red" variant="light" onClick={() => act(() => del(`/api/app/organizations/${orgId}/invitations/${invitation.id}`))}>
              Revoke
            </Button>
          </Group>
        );
      },
    }),
  ];
  return (
    <Stack gap="xs">
      <Title order={2} size="h4">
        Pending invitations
      </Title>
      {error != null && <Text c="red" role="alert">{messageOf(error)}</Text>}
      <QueryView query={invitations}>
        {(rows) =>
          rows.length === 0 ? <Empty>No invitation is waiting.</Empty> : <DataTable data={rows} columns={columns} label="Pending invitations" testId="invitations" />
        }
      </QueryView>
    </Stack>
  );
}
