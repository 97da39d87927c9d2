// The first screen after signing in: each organization with the caller's role and the
// projects it may open.
import { Anchor, Badge, Card, Group, List, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router-dom";
import { useMe } from "../api/hooks";
import { roleLabel, Screen } from "./common";

export function Home() {
  const { data: me } = useMe();
  const orgs = me?.organizations ?? [];
  return (
    <Screen title="Your organizations">
      <Stack data-testid="home">
        {orgs.length === 0 && <Text>You belong to no organization yet. Ask an administrator for an invitation.</Text>}
        {orgs.map((org) => (
          <Card key={org.id} withBorder>
            <Group justify="space-between">
              <Title order={2} size="h4">
                {org.sign_in_required ? org.name : <Anchor component={Link} to={`/organizations/${org.id}`}>{org.name}</Anchor>}
              </Title>
              <Badge variant="light">{roleLabel(org.role)}</Badge>
            </Group>
            {/* The role's machine name too: scripts and tests read it. */}
            <Text size="sm" c="dimmed">
              Your role: {org.role}
            </Text>
            {org.sign_in_required ? (
              <Text size="sm" mt="xs">
                You signed in through another organization's single sign-on.{" "}
                <Anchor component={Link} to="/sign-in">
                  Sign in
                </Anchor>{" "}
                with your password or this organization's single sign-on to open it.
              </Text>
            ) : org.projects.length === 0 ? (
              <Text size="sm" mt="xs">
                No project of this organization is open to you.
              </Text>
            ) : (
              <List mt="xs">
                {org.projects.map((project) => (
                  <List.Item key={project.id}>
                    <Anchor component={Link} to={`/projects/${project.id}`}>
                      {project.name}
                    </Anchor>{" "}
                    <Text span size="sm" c="dimmed">
                      ({project.region}
                      {project.grants.length > 0 && `, ${project.grants.map((g) => roleLabel(g.role)).join(", ")}`})
                    </Text>
                  </List.Item>
                ))}
              </List>
            )}
          </Card>
        ))}
      </Stack>
    </Screen>
  );
}
