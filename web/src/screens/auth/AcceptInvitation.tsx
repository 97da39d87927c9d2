// An invitation link: a new person chooses a password; someone with an account signs in
// as that address first (the link alone is no sign-in), then accepts.
import { useState } from "react";
import { Alert, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { get, post } from "../../api/client";
import { useMe } from "../../api/hooks";
import { AuthFrame } from "./Frame";
import type { Body, InvitationLookup } from "../../api/types";
import { ErrorNote, Loading, useAction } from "../common";


export function AcceptInvitation() {
  const [search] = useSearchParams();
  const token = search.get("token") ?? "";
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const lookup = useQuery({
    queryKey: ["invitation", token],
    queryFn: ({ signal }) => get<InvitationLookup>(`/api/app/invitations/lookup?token=${encodeURIComponent(token)}`, signal),
  });
  const me = useMe();
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useAction();
  if (lookup.isPending) return <Loading />;
  if (lookup.isError)
    return (
      <AuthFrame title="Invitation not valid">
        <ErrorNote error={lookup.error} title="This link cannot be used" />
        <Text size="sm">Ask an administrator of the organization for a new invitation.</Text>
      </AuthFrame>
    );
  const invitation = lookup.data;
  const signedInAs = me.data?.user.type === "user" ? me.data.user.email : null;
  const accept = (body: Omit<Body<"AcceptInvitationBody">, "token">) =>
    run(async () => {
      await post("/api/app/invitations/accept", { token, ...body } satisfies Body<"AcceptInvitationBody">);
      queryClient.clear();
      navigate("/", { replace: true });
    });
  const here = `/invitations/accept?token=${encodeURIComponent(token)}`;
  return (
    <AuthFrame title={`Join ${invitation.organization}`}>
      <Text>Invitation for {invitation.email}.</Text>
      {invitation.has_account ? (
        signedInAs?.toLowerCase() === invitation.email.toLowerCase() ? (
          <Button loading={busy} onClick={() => accept({})} id="accept">
            Accept and join {invitation.organization}
          </Button>
        ) : (
          <Stack gap="xs">
            <Text size="sm">
              You already have an account: sign in as this address in this browser first; accepting then adds this organization to it.
            </Text>
            <Button component={Link} to={`/sign-in?next=${encodeURIComponent(here)}`}>
              Sign in as {invitation.email}
            </Button>
          </Stack>
        )
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            accept({ name, password });
          }}
        >
          <Stack gap="sm">
            <TextInput id="accept-name" label="Your name" autoComplete="name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
            <PasswordInput
              id="accept-password"
              label="Choose a password"
              autoComplete="new-password"
              required
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
            />
            <Button type="submit" loading={busy} id="accept">
              Accept and join
            </Button>
          </Stack>
        </form>
      )}
      {error && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
    </AuthFrame>
  );
}
