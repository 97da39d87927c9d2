// The frame of every signed-in screen: the header with the organization and project, the
// navigation (only what the caller may use, and the data view when there is a choice), and
// sign-in when nobody is signed in.
import { Fragment, useEffect, useState } from "react";
import { Alert, AppShell, Burger, Button, Group, NavLink, ScrollArea, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { Link, Navigate, Outlet, useLocation, useNavigate, useParams } from "react-router-dom";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError, del, post } from "../api/client";
import { effectiveDataView, useChosenDataView } from "../api/dataViews";
import { mayInProject, useCurrent, useDataViews, useMe, useOrganization, useSwitchDataView } from "../api/hooks";
import { ErrorNote, Loading } from "./common";

export function Layout() {
  const me = useMe();
  const location = useLocation();
  const [opened, { toggle, close }] = useDisclosure();
  useEffect(close, [location.pathname, close]);
  if (me.isPending) return <Loading />;
  if (me.isError) {
    if (me.error instanceof ApiError && me.error.status === 401) {
      const next = location.pathname + location.search;
      return <Navigate to={`/sign-in?next=${encodeURIComponent(next)}`} replace />;
    }
    return <ErrorNote error={me.error} />;
  }
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 240, breakpoint: "sm", collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Header opened={opened} toggle={toggle} />
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main navigation">
        <ScrollArea>
          <Navigation />
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <Guarded />
      </AppShell.Main>
    </AppShell>
  );
}

function Header({ opened, toggle }: { opened: boolean; toggle: () => void }) {
  const { me, org, project } = useCurrent();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const projects = (me?.organizations ?? []).flatMap((o) =>
    o.projects.map((p) => ({ value: String(p.id), label: `${o.name} · ${p.name}` })),
  );
  const signOut = async () => {
    try {
      await del("/api/app/sessions/current");
    } finally {
      queryClient.clear();
      navigate("/sign-in");
    }
  };
  const who = me?.user.type === "user" ? me.user.email : me?.user.username;
  return (
    <Group h="100%" px="md" justify="space-between" wrap="nowrap">
      <Group wrap="nowrap">
        <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Open the navigation" />
        <Text component={Link} to="/" fw={700} size="lg">
          Tally
        </Text>
        {projects.length > 0 && (
          <Select
            aria-label="Project"
            placeholder="Choose a project"
            data={projects}
            value={project ? String(project.id) : null}
            onChange={(value) => value && navigate(`/projects/${value}/insights`)}
            w={260}
            visibleFrom="xs"
            allowDeselect={false}
          />
        )}
        {org && !project && (
          <Text c="dimmed" visibleFrom="xs">
            {org.name}
          </Text>
        )}
      </Group>
      <Group wrap="nowrap" gap="xs">
        <Button component={Link} to="/account" variant="subtle" size="compact-sm" visibleFrom="xs">
          {who}
        </Button>
        <Button variant="default" size="compact-sm" onClick={signOut}>
          Sign out
        </Button>
      </Group>
    </Group>
  );
}

function Navigation() {
  const { org, project } = useCurrent();
  const location = useLocation();
  const orgDetail = useOrganization(org?.id);
  const orgPermissions = orgDetail.data?.your_permissions ?? [];
  // `nested`: also active on the screens under it (a board under Boards).
  const item = (to: string, label: string, nested = false) => (
    <NavLink key={to} component={Link} to={to} label={label} active={location.pathname === to || (nested && location.pathname.startsWith(`${to}/`))} />
  );
  return (
    <nav>
      {project && (
        <>
          <Text size="xs" c="dimmed" px="sm" pt="xs" tt="uppercase">
            {project.name}
          </Text>
          {mayInProject(project, "view_reports") && <DataViewPicker projectId={project.id} />}
          {mayInProject(project, "view_reports") && (
            <>
              {item(`/projects/${project.id}/boards`, "Boards", true)}
              {item(`/projects/${project.id}/insights`, "Insights")}
              {item(`/projects/${project.id}/funnels`, "Funnels")}
              {item(`/projects/${project.id}/retention`, "Retention")}
              {item(`/projects/${project.id}/flows`, "Flows")}
              {item(`/projects/${project.id}/cohorts`, "Cohorts", true)}
              {item(`/projects/${project.id}/alerts`, "Alerts", true)}
              {item(`/projects/${project.id}/annotations`, "Annotations")}
              {item(`/projects/${project.id}/lexicon`, "Lexicon")}
            </>
          )}
          {mayInProject(project, "view_users") && item(`/projects/${project.id}/users`, "Users")}
          {mayInProject(project, "view_users") && item(`/projects/${project.id}/events`, "Events")}
          {mayInProject(project, "view_project_settings") && item(`/projects/${project.id}/settings`, "Project settings")}
          {mayInProject(project, "view_project_settings") && item(`/projects/${project.id}/settings/users`, "Project users")}
          {mayInProject(project, "view_project_settings") && item(`/projects/${project.id}/settings/roles`, "Roles")}
          {mayInProject(project, "view_project_settings") && mayInProject(project, "view_reports") && item(`/projects/${project.id}/settings/data-views`, "Data views")}
          {mayInProject(project, "manage_privacy_requests") && item(`/projects/${project.id}/settings/privacy`, "Privacy requests")}
        </>
      )}
      {org && !org.sign_in_required && (
        <>
          <Text size="xs" c="dimmed" px="sm" pt="md" tt="uppercase">
            {org.name}
          </Text>
          {orgPermissions.includes("view_organization") && item(`/organizations/${org.id}/members`, "Users & invitations")}
          {orgPermissions.includes("view_organization") && item(`/organizations/${org.id}/teams`, "Teams")}
          {orgPermissions.includes("view_organization") && item(`/organizations/${org.id}/projects`, "Projects")}
          {orgPermissions.includes("manage_security") && item(`/organizations/${org.id}/security`, "Access security")}
          {orgPermissions.includes("manage_service_accounts") && item(`/organizations/${org.id}/service-accounts`, "Service accounts")}
          {orgPermissions.includes("view_org_audit_log") && item(`/organizations/${org.id}/audit-log`, "Audit log")}
          {orgPermissions.includes("view_billing") && item(`/organizations/${org.id}/billing`, "Billing")}
        </>
      )}
      <Text size="xs" c="dimmed" px="sm" pt="md" tt="uppercase">
        You
      </Text>
      {item("/account", "Account & security")}
    </nav>
  );
}

/** The data view the project's reports read through, when the caller may open more than
 * one. A choice that is no longer open to them (deleted, or taken away) is forgotten. */
function DataViewPicker({ projectId }: { projectId: number }) {
  const views = useDataViews(projectId);
  const chosen = useChosenDataView(projectId);
  const switchTo = useSwitchDataView();
  const stale = views.data !== undefined && chosen !== null && !views.data.some((v) => v.id === chosen);
  useEffect(() => {
    if (stale) switchTo(projectId, null);
  }, [stale, projectId]); // eslint-disable-line react-hooks/exhaustive-deps
  if (!views.data || views.data.length < 2) return null;
  const current = effectiveDataView(views.data, chosen);
  return (
    <Select
      id="data-view-picker"
      label="Data view"
      description="What the reports read"
      data={views.data.map((v) => ({ value: String(v.id), label: v.name }))}
      value={current ? String(current.id) : null}
      onChange={(value) => value !== null && switchTo(projectId, Number(value))}
      allowDeselect={false}
      px="sm"
      py="xs"
      size="sm"
      data-testid="data-view-picker"
    />
  );
}

/** `/organizations/:id`: its first screen. */
export function OrgIndex() {
  const { orgId } = useParams();
  return <Navigate to={`/organizations/${orgId}/members`} replace />;
}

/** `/projects/:id`: Insights for those who may view reports, else the settings. */
export function ProjectIndex() {
  const { project } = useCurrent();
  if (!project) return <Loading />;
  const to = mayInProject(project, "view_reports") ? "insights" : "settings";
  return <Navigate to={`/projects/${project.id}/${to}`} replace />;
}

/** The screen, or why a project in the URL is not open to the caller. A project's screen
 * is mounted afresh when its data view changes, so that all it shows reads through the new one. */
function Guarded() {
  const params = useParams();
  const { project } = useCurrent();
  const view = useChosenDataView(project?.id);
  if (params.projectId && !project) return <NoProjectAccess projectId={Number(params.projectId)} />;
  return (
    <Fragment key={view ?? "default"}>
      <Outlet />
    </Fragment>
  );
}

function NoProjectAccess({ projectId }: { projectId: number }) {
  const [message, setMessage] = useState("");
  const request = useMutation({
    mutationFn: () => post(`/api/app/projects/${projectId}/access-requests`, { message }),
  });
  return (
    <Stack maw={560} data-testid="no-project-access">
      <Title order={1} size="h2">
        This project is not open to you
      </Title>
      <Text>
        None of your roles gives access to it. If it belongs to your organization, ask its administrators for access.
      </Text>
      {request.isSuccess ? (
        <Alert color="green">Your request was sent to the project's administrators.</Alert>
      ) : (
        <Group align="flex-end">
          <TextInput label="Why you need access (optional)" value={message} onChange={(e) => setMessage(e.currentTarget.value)} w={320} />
          <Button onClick={() => request.mutate()} loading={request.isPending}>
            Request access
          </Button>
        </Group>
      )}
      {request.error && <ErrorNote error={request.error} />}
    </Stack>
  );
}
