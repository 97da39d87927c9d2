// Organization settings › Access security: claimed domains with the DNS record to publish,
// single sign-on (SAML with the values to paste into Okta or Entra, or OIDC), Require SSO,
// IdP-managed access, the SCIM token (shown once) and the second-factor requirement.
// Every change here asks for the password again.
import { useEffect, useState } from "react";
import {
  Alert,
  Badge,
  Button,
  Card,
  Checkbox,
  Code,
  Group,
  PasswordInput,
  SegmentedControl,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Textarea,
  Title,
} from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { del, get, post, put } from "../../api/client";
import type { Domain, OrgSecurity, ScimToken, SsoSettings } from "../../api/types";
import { Copyable, Empty, ErrorNote, QueryView, Screen, when } from "../common";



export function Security() {
  const orgId = Number(useParams().orgId);
  const [password, setPassword] = useState("");
  return (
    <Screen title="Access security">
      <PasswordInput
        id="security-password"
        label="Your password"
        description="Changes on this screen ask for it again."
        autoComplete="current-password"
        value={password}
        onChange={(e) => setPassword(e.currentTarget.value)}
        maw={360}
      />
      <TwoFactorRequirement orgId={orgId} password={password} />
      <Domains orgId={orgId} password={password} />
      <SingleSignOn orgId={orgId} password={password} />
      <ScimToken orgId={orgId} password={password} />
    </Screen>
  );
}

function TwoFactorRequirement({ orgId, password }: { orgId: number; password: string }) {
  const queryClient = useQueryClient();
  const security = useQuery({
    queryKey: ["org", orgId, "security"],
    queryFn: ({ signal }) => get<OrgSecurity>(`/api/app/organizations/${orgId}/security`, signal),
  });
  const change = useMutation({
    mutationFn: (required: boolean) => put(`/api/app/organizations/${orgId}/security`, { require_two_factor: required, password }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["org", orgId, "security"] }),
  });
  return (
    <Card withBorder component="section" aria-label="Second factor">
      <Title order={2} size="h4">Second factor</Title>
      <QueryView query={security}>
        {(s) => (
          <Switch
            mt="xs"
            id="require-2fa"
            label="Require every member to use a second factor"
            checked={s.require_two_factor}
            onChange={(e) => change.mutate(e.currentTarget.checked)}
          />
        )}
      </QueryView>
      {change.error && <ErrorNote error={change.error} />}
    </Card>
  );
}

function Domains({ orgId, password }: { orgId: number; password: string }) {
  const queryClient = useQueryClient();
  const domains = useQuery({
    queryKey: ["org", orgId, "domains"],
    queryFn: ({ signal }) => get<Domain[]>(`/api/app/organizations/${orgId}/domains`, signal),
  });
  const [domain, setDomain] = useState("");
  const act = useMutation({
    mutationFn: (action: () => Promise<unknown>) => action(),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["org", orgId, "domains"] }),
  });
  return (
    <Card withBorder component="section" aria-label="Domains">
      <Title order={2} size="h4">Domains</Title>
      <Text size="sm" c="dimmed">
        Claim your e-mail domain and publish its TXT record; sign-ins from a verified domain go to your identity provider.
      </Text>
      <QueryView query={domains}>
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No domain claimed.</Empty>
          ) : (
            <Table aria-label="Claimed domains" mt="xs">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Domain</Table.Th>
                  <Table.Th>DNS record to publish</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th>Actions</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((d) => (
                  <Table.Tr key={d.id}>
                    <Table.Td>{d.domain}</Table.Td>
                    <Table.Td>
                      <Code>
                        {d.record.type} {d.record.name} "{d.record.value}"
                      </Code>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm" fw={600}>{d.status}</Text>
                      <Text size="xs" c="dimmed">checked {when(d.last_checked)}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Group gap="xs">
                        <Button size="compact-xs" variant="default" onClick={() => act.mutate(() => post(`/api/app/organizations/${orgId}/domains/${d.id}/verify`))}>
                          Check now
                        </Button>
                        <Button size="compact-xs" color="red" variant="light" onClick={() => act.mutate(() => del(`/api/app/organizations/${orgId}/domains/${d.id}`))}>
                          Remove
                        </Button>
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )
        }
      </QueryView>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          act.mutate(async () => {
            await post(`/api/app/organizations/${orgId}/domains`, { domain, password });
            setDomain("");
          });
        }}
      >
        <Group align="flex-end" mt="sm">
          <TextInput id="domain-name" label="Claim a domain" placeholder="example.com" value={domain} onChange={(e) => setDomain(e.currentTarget.value)} required />
          <Button type="submit" loading={act.isPending}>Claim</Button>
        </Group>
      </form>
      {act.error && <ErrorNote error={act.error} />}
    </Card>
  );
}

function SingleSignOn({ orgId, password }: { orgId: number; password: string }) {
  const queryClient = useQueryClient();
  const sso = useQuery({
    queryKey: ["org", orgId, "sso"],
    queryFn: ({ signal }) => get<SsoSettings>(`/api/app/organizations/${orgId}/sso`, signal),
  });
  const [protocol, setProtocol] = useState<string>("saml");
  const [saml, setSaml] = useState({ metadata_xml: "", metadata_url: "" });
  const [oidc, setOidc] = useState({ issuer: "", client_id: "", client_secret: "" });
  const [flags, setFlags] = useState({ require_sso: false, idp_managed: false });
  // The form starts from what is set, so saving again changes only what was changed.
  useEffect(() => {
    if (!sso.data) return;
    setFlags({ require_sso: sso.data.require_sso, idp_managed: sso.data.idp_managed });
    if (sso.data.protocol) setProtocol(sso.data.protocol);
    setSaml((current) => ({ ...current, metadata_url: current.metadata_url || (sso.data.saml.metadata_url ?? "") }));
    setOidc((current) => ({
      ...current,
      issuer: current.issuer || (sso.data.issuer ?? ""),
      client_id: current.client_id || (sso.data.client_id ?? ""),
    }));
  }, [sso.data]);
  const save = useMutation({
    mutationFn: () =>
      protocol === "saml"
        ? put(`/api/app/organizations/${orgId}/sso/saml`, {
            ...(saml.metadata_xml ? { metadata_xml: saml.metadata_xml } : { metadata_url: saml.metadata_url }),
            ...flags,
            password,
          })
        : put(`/api/app/organizations/${orgId}/sso/oidc`, { ...oidc, client_secret: oidc.client_secret || undefined, ...flags, password }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["org", orgId, "sso"] }),
  });
  return (
    <Card withBorder component="section" aria-label="Single sign-on">
      <Title order={2} size="h4">Single sign-on</Title>
      <QueryView query={sso}>
        {(s) => (
          <Stack gap="xs" mt="xs">
            <Text size="sm">
              Now: {s.protocol ? <Badge>{s.protocol.toUpperCase()}</Badge> : "not set up"}
              {s.require_sso && <Text span fw={600} ml="xs">· SSO required</Text>}
              {s.idp_managed && <Text span fw={600} ml="xs">· IdP-managed access</Text>}
            </Text>
            <SegmentedControl
              aria-label="Protocol"
              data={[
                { value: "saml", label: "SAML 2.0" },
                { value: "oidc", label: "OpenID Connect" },
              ]}
              value={protocol}
              onChange={setProtocol}
              w={300}
            />
            {protocol === "saml" ? (
              <>
                <Text size="sm" fw={600}>Paste these into Okta or Microsoft Entra:</Text>
                <Copyable label="Entity ID (Audience URI)" value={s.saml.sp_entity_id} />
                <Copyable label="ACS URL (Reply URL)" value={s.saml.acs_url} />
                <Copyable label="Service provider metadata" value={s.saml.sp_metadata_url} />
                {s.saml.idp_entity_id && <Text size="sm">Identity provider: <Code>{s.saml.idp_entity_id}</Code></Text>}
                <TextInput
                  id="saml-metadata-url"
                  label="Identity provider metadata URL"
                  value={saml.metadata_url}
                  onChange={(e) => setSaml({ ...saml, metadata_url: e.currentTarget.value })}
                />
                <Textarea
                  id="saml-metadata-xml"
                  label="…or its metadata XML"
                  autosize
                  minRows={2}
                  maxRows={8}
                  value={saml.metadata_xml}
                  onChange={(e) => setSaml({ ...saml, metadata_xml: e.currentTarget.value })}
                />
              </>
            ) : (
              <>
                <Copyable label="Redirect URI" value={s.redirect_uri} />
                <TextInput id="oidc-issuer" label="Issuer" value={oidc.issuer} onChange={(e) => setOidc({ ...oidc, issuer: e.currentTarget.value })} />
                <TextInput id="oidc-client-id" label="Client ID" value={oidc.client_id} onChange={(e) => setOidc({ ...oidc, client_id: e.currentTarget.value })} />
                <PasswordInput
                  id="oidc-client-secret"
                  label="Client secret"
                  description={s.client_secret_set ? "Set; leave empty to keep it." : undefined}
                  value={oidc.client_secret}
                  onChange={(e) => setOidc({ ...oidc, client_secret: e.currentTarget.value })}
                />
              </>
            )}
            <Checkbox id="require-sso" label="Require SSO (Owners and Admins keep a password as break-glass)" checked={flags.require_sso} onChange={(e) => setFlags({ ...flags, require_sso: e.currentTarget.checked })} />
            <Checkbox id="idp-managed" label="IdP-managed access: the first sign-in creates the member" checked={flags.idp_managed} onChange={(e) => setFlags({ ...flags, idp_managed: e.currentTarget.checked })} />
            <Group>
              <Button onClick={() => save.mutate()} loading={save.isPending} id="sso-save">
                Save single sign-on
              </Button>
            </Group>
            {save.isSuccess && <Alert color="green">Saved. Every Owner was told by e-mail.</Alert>}
            {save.error && <ErrorNote error={save.error} />}
          </Stack>
        )}
      </QueryView>
    </Card>
  );
}

function ScimToken({ orgId, password }: { orgId: number; password: string }) {
  const issue = useMutation({
    mutationFn: () => post<ScimToken>(`/api/app/organizations/${orgId}/scim-token`, { password }),
  });
  return (
    <Card withBorder component="section" aria-label="SCIM provisioning">
      <Title order={2} size="h4">SCIM provisioning</Title>
      <Text size="sm" c="dimmed">Your identity provider creates and removes members with this token. A new one replaces the old.</Text>
      <Group mt="xs">
        <Button variant="default" onClick={() => issue.mutate()} loading={issue.isPending}>
          Issue a SCIM token
        </Button>
      </Group>
      {issue.data && (
        <Alert color="yellow" mt="xs" title="Shown once: copy it now">
          <Copyable label="SCIM token" value={issue.data.token} />
        </Alert>
      )}
      {issue.error && <ErrorNote error={issue.error} />}
    </Card>
  );
}
