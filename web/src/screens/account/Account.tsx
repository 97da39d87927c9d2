// Your account: the second factor (enroll an authenticator app with a QR code, recovery
// codes shown once) and your sessions, with sign-out of the others.
import { useState } from "react";
import { Alert, Badge, Button, Card, Group, PasswordInput, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { del, get, post } from "../../api/client";
import type { Provisioning, RecoveryCodes as RecoveryCodesAnswer, SessionInfo, TwoFactorStatus } from "../../api/types";
import { ErrorNote, QueryView, Screen, when } from "../common";
import { ConfirmCode, ProvisioningView, RecoveryCodes } from "../auth/Enroll";

export function Account() {
  return (
    <Screen title="Account & security">
      <SecondFactor />
      <Sessions />
    </Screen>
  );
}

function SecondFactor() {
  const queryClient = useQueryClient();
  const status = useQuery({ queryKey: ["me", "two-factor"], queryFn: ({ signal }) => get<TwoFactorStatus>("/api/app/me/two-factor", signal) });
  const [password, setPassword] = useState("");
  const [provisioning, setProvisioning] = useState<Provisioning | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const start = useMutation({
    mutationFn: () => post<Provisioning>("/api/app/me/two-factor/totp", { password }),
    onSuccess: setProvisioning,
  });
  return (
    <Card withBorder component="section" aria-label="Second factor">
      <Title order={2} size="h4">
        Second factor
      </Title>
      <QueryView query={status}>
        {(s) => (
          <Stack gap="sm" mt="xs">
            <Text data-testid="two-factor-state">
              {s.method ? (
                <>
                  On: <Badge>{s.method === "totp" ? "authenticator app" : `SMS to ${s.phone}`}</Badge> · {s.recovery_codes_left} recovery codes left
                </>
              ) : (
                "Off"
              )}
              {s.required_by_organization && !s.method && " — an organization you belong to requires one."}
            </Text>
            {codes ? (
              <RecoveryCodes
                codes={codes}
                onDone={() => {
                  setCodes(null);
                  queryClient.invalidateQueries({ queryKey: ["me", "two-factor"] });
                }}
              />
            ) : provisioning ? (
              <>
                <ProvisioningView provisioning={provisioning} />
                <ConfirmCode
                  onConfirm={async (code) => {
                    const confirmed = await post<RecoveryCodesAnswer>("/api/app/me/two-factor/confirm", { code });
                    setProvisioning(null);
                    setCodes(confirmed.recovery_codes);
                  }}
                />
              </>
            ) : (
              !s.method && (
                <form
                  onSubmit={(event) => {
                    event.preventDefault();
                    start.mutate();
                  }}
                >
                  <Group align="flex-end">
                    <PasswordInput id="enroll-password" label="Your password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} required />
                    <Button type="submit" loading={start.isPending} id="enroll-totp">
                      Set up an authenticator app
                    </Button>
                  </Group>
                </form>
              )
            )}
            {start.error && <ErrorNote error={start.error} />}
          </Stack>
        )}
      </QueryView>
    </Card>
  );
}

function Sessions() {
  const queryClient = useQueryClient();
  const sessions = useQuery({ queryKey: ["me", "sessions"], queryFn: ({ signal }) => get<SessionInfo[]>("/api/app/me/sessions", signal) });
  const end = useMutation({
    mutationFn: (id: string) => del(`/api/app/me/sessions/${encodeURIComponent(id)}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["me", "sessions"] }),
  });
  return (
    <Card withBorder component="section" aria-label="Sessions">
      <Title order={2} size="h4">
        Your sessions
      </Title>
      <QueryView query={sessions}>
        {(rows) => (
          <Table aria-label="Your sessions" mt="xs">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Signed in</Table.Th>
                <Table.Th>Last seen</Table.Th>
                <Table.Th>From</Table.Th>
                <Table.Th>Browser</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td>{when(s.created)}</Table.Td>
                  <Table.Td>{when(s.last_seen)}</Table.Td>
                  <Table.Td>{s.ip ?? "—"}</Table.Td>
                  <Table.Td>{s.user_agent ?? "—"}</Table.Td>
                  <Table.Td>
                    {s.current ? (
                      <Text size="sm" fw={600}>This browser</Text>
                    ) : (
                      <Button size="compact-xs" variant="light" color="red" onClick={() => end.mutate(s.id)}>
                        Sign out
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </QueryView>
      {end.error && <ErrorNote error={end.error} />}
      {end.isSuccess && <Alert color="green" mt="xs">Signed out there.</Alert>}
    </Card>
  );
}
