// The screen an e-mailed password-reset link opens: choose a new password, then sign in.
import { useState } from "react";
import { Alert, Anchor, Button, PasswordInput, Stack } from "@mantine/core";
import { Link, useSearchParams } from "react-router-dom";
import { post } from "../../api/client";
import { useAction } from "../common";
import type { Body } from "../../api/types";
import { AuthFrame } from "./Frame";

export function PasswordReset() {
  const [search] = useSearchParams();
  const token = search.get("token") ?? "";
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction();
  return (
    <AuthFrame title="Choose a new password">
      {done ? (
        <Stack gap="sm">
          <Alert color="green" role="status">
            Your password is changed.
          </Alert>
          <Anchor component={Link} to="/sign-in">
            Sign in with it
          </Anchor>
        </Stack>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => {
              await post("/api/app/password-reset/confirm", { token, password } satisfies Body<"PasswordResetBody">);
              setDone(true);
            });
          }}
        >
          <Stack gap="sm">
            <PasswordInput
              id="reset-password"
              label="New password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
              required
            />
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <Button type="submit" loading={busy} id="reset-save">
              Save
            </Button>
          </Stack>
        </form>
      )}
    </AuthFrame>
  );
}
