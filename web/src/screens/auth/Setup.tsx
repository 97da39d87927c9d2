// The setup link's form: the first Owner and organization of an empty instance.
import { useState } from "react";
import { Alert, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { useNavigate, useSearchParams } from "react-router-dom";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { get, post } from "../../api/client";
import { ErrorNote, Loading, useAction } from "../common";
import type { Body, SetupLink } from "../../api/types";
import { AuthFrame } from "./Frame";

export function Setup() {
  const [search] = useSearchParams();
  const token = search.get("token") ?? "";
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ organization: "", name: "", email: "", password: "" });
  const { busy, error, run } = useAction();
  const live = useQuery({
    queryKey: ["setup", token],
    queryFn: ({ signal }) => get<SetupLink>(`/api/app/setup?token=${encodeURIComponent(token)}`, signal),
    enabled: token !== "",
  });
  const field = (name: keyof typeof form) => ({
    value: form[name],
    onChange: (event: React.ChangeEvent<HTMLInputElement>) => setForm({ ...form, [name]: event.currentTarget.value }),
  });
  if (!token) {
    return (
      <AuthFrame title="Set up Tally">
        <Text>
          Open the setup link that <code>tally serve</code> printed when it started, or run <code>tally admin bootstrap</code>.
        </Text>
      </AuthFrame>
    );
  }
  if (live.isPending) return <Loading />;
  if (live.isError)
    return (
      <AuthFrame title="Setup link not valid">
        <ErrorNote error={live.error} title="This link cannot be used" />
      </AuthFrame>
    );
  return (
    <AuthFrame title="Set up Tally">
      <Text size="sm" c="dimmed">
        You become the Owner of a new organization with a Production and a Development project.
      </Text>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          run(async () => {
            await post("/api/app/setup", { token, ...form } satisfies Body<"SetupBody">);
            queryClient.clear();
            navigate("/", { replace: true });
          });
        }}
      >
        <Stack gap="sm">
          <TextInput id="setup-organization" label="Organization" required {...field("organization")} />
          <TextInput id="setup-name" label="Your name" autoComplete="name" {...field("name")} />
          <TextInput id="setup-email" label="Your e-mail" type="email" autoComplete="username" required {...field("email")} />
          <PasswordInput
            id="setup-password"
            label="Password"
            description="At least 12 characters."
            autoComplete="new-password"
            required
            {...field("password")}
          />
          {error && (
            <Alert color="red" role="alert">
              {error}
            </Alert>
          )}
          <Button type="submit" loading={busy} id="setup-submit">
            Create the organization
          </Button>
        </Stack>
      </form>
    </AuthFrame>
  );
}
