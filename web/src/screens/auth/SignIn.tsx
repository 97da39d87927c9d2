// Sign-in: the e-mail first. A domain with single sign-on goes to its identity provider;
// anyone else (or "use a password instead", the break-glass path of Owners and Admins)
// gives a password, then a second factor when asked, or enrolls one when an organization
// requires it. Afterwards, the screen that was asked for.
import { useState } from "react";
import { Anchor, Button, Group, Stack, Text, TextInput, PasswordInput } from "@mantine/core";
import { useLocation, useNavigate, useSearchParams } from "react-router-dom";
import { useQueryClient } from "@tanstack/react-query";
import { get, messageOf, post } from "../../api/client";
import type { Body, Provisioning, SignInStep, SsoDiscovery } from "../../api/types";
import { AuthFrame, nextPath } from "./Frame";
import { ConfirmCode, ProvisioningView, RecoveryCodes } from "./Enroll";

type Step =
  | { kind: "magic"; token: string }
  | { kind: "forgot" }
  | { kind: "email" }
  | { kind: "password" }
  | { kind: "code"; challenge: string; method: string; recovery: boolean }
  | { kind: "enroll"; challenge: string; provisioning: Provisioning | null }
  | { kind: "codes"; codes: string[] };

export function SignIn() {
  const [search] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const location = useLocation();
  // An e-mailed sign-in link opens this screen at /magic-link; its token is used only when
  // the person presses the button (mail scanners open links too).
  const magicToken = location.pathname === "/magic-link" ? search.get("token") : null;
  const [step, setStep] = useState<Step>(magicToken ? { kind: "magic", token: magicToken } : { kind: "email" });
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);

  const done = () => {
    queryClient.clear();
    navigate(nextPath(search), { replace: true });
  };

  const follow = (result: SignInStep) => {
    if (result.status === "signed_in") {
      if (result.recovery_codes?.length) setStep({ kind: "codes", codes: result.recovery_codes });
      else done();
    } else if (result.status === "second_factor_required") {
      setCode("");
      setStep({ kind: "code", challenge: result.challenge, method: result.method, recovery: false });
    } else {
      setStep({ kind: "enroll", challenge: result.challenge, provisioning: null });
    }
  };

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setMessage("");
    try {
      await action();
    } catch (error) {
      setMessage(messageOf(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <AuthFrame title="Sign in to Tally">
      {step.kind === "magic" && (
        <Stack gap="sm">
          <Text>Sign in with the link we e-mailed you.</Text>
          <Button
            id="magic-sign-in"
            loading={busy}
            onClick={() =>
              run(async () => follow(await post<SignInStep>("/api/app/magic-link/consume", { token: step.token } satisfies Body<"MagicLinkBody">)))
            }
          >
            Sign in
          </Button>
        </Stack>
      )}
      {step.kind === "forgot" && (
        <form
          id="forgot-step"
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => {
              await post("/api/app/password-reset", { email: email.trim() } satisfies Body<"EmailBody">);
              setMessage("If an account uses this address, a link to choose a new password is on its way.");
            });
          }}
        >
          <Stack gap="sm">
            <TextInput
              id="forgot-email"
              label="Work e-mail"
              type="email"
              autoComplete="username"
              value={email}
              onChange={(event) => setEmail(event.currentTarget.value)}
              required
            />
            <Button type="submit" loading={busy} id="forgot-send">
              E-mail me a reset link
            </Button>
            <Anchor component="button" type="button" size="sm" onClick={() => setStep({ kind: "password" })}>
              Back to sign-in
            </Anchor>
          </Stack>
        </form>
      )}
      {step.kind === "email" && (
        <form
          id="email-step"
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => {
              const found = await get<SsoDiscovery>(
                `/api/app/sso/discover?email=${encodeURIComponent(email.trim())}`,
              );
              if (found.sso && found.start_url) {
                setMessage("Taking you to your organization's single sign-on…");
                window.location.assign(found.start_url);
              } else {
                setStep({ kind: "password" });
              }
            });
          }}
        >
          <Stack gap="sm">
            <TextInput
              id="email"
              label="Work e-mail"
              type="email"
              autoComplete="username"
              value={email}
              onChange={(event) => setEmail(event.currentTarget.value)}
              required
              data-autofocus
            />
            <Button id="continue" type="submit" loading={busy}>
              Continue
            </Button>
            <Anchor
              id="use-password"
              component="button"
              type="button"
              size="sm"
              onClick={() => {
                setMessage("");
                setStep({ kind: "password" });
              }}
            >
              Use a password instead
            </Anchor>
          </Stack>
        </form>
      )}
      {step.kind === "password" && (
        <form
          id="password-step"
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => follow(await post<SignInStep>("/api/app/sessions", { email: email.trim(), password } satisfies Body<"SignInBody">)));
          }}
        >
          <Stack gap="sm">
            <TextInput
              id="email"
              label="Work e-mail"
              type="email"
              autoComplete="username"
              value={email}
              onChange={(event) => setEmail(event.currentTarget.value)}
              required
            />
            <PasswordInput
              id="password"
              label="Password"
              autoComplete="current-password"
              value={password}
              onChange={(event) => setPassword(event.currentTarget.value)}
              required
              autoFocus
            />
            <Button id="sign-in" type="submit" loading={busy}>
              Sign in
            </Button>
            <Group gap="md">
              <Anchor id="forgot-password" component="button" type="button" size="sm" onClick={() => setStep({ kind: "forgot" })}>
                Forgot your password?
              </Anchor>
              <Anchor
                id="email-link"
                component="button"
                type="button"
                size="sm"
                onClick={() =>
                  run(async () => {
                    await post("/api/app/magic-link", { email: email.trim() } satisfies Body<"EmailBody">);
                    setMessage("If this address may sign in by e-mail, a sign-in link is on its way.");
                  })
                }
              >
                E-mail me a sign-in link
              </Anchor>
            </Group>
          </Stack>
        </form>
      )}
      {step.kind === "code" && (
        <form
          id="code-step"
          onSubmit={(event) => {
            event.preventDefault();
            const proof = step.recovery ? { recovery_code: code.trim() } : { code: code.trim() };
            run(async () =>
              follow(await post<SignInStep>("/api/app/sessions/second-factor", { challenge: step.challenge, ...proof })),
            );
          }}
        >
          <Stack gap="sm">
            <TextInput
              id="code"
              label={
                step.recovery
                  ? "One of your recovery codes"
                  : step.method === "sms"
                    ? "The code we sent by SMS"
                    : "The code from your authenticator app"
              }
              inputMode={step.recovery ? "text" : "numeric"}
              autoComplete="one-time-code"
              value={code}
              onChange={(event) => setCode(event.currentTarget.value)}
              required
              autoFocus
            />
            <Button id="verify" type="submit" loading={busy}>
              Verify
            </Button>
            {step.method === "sms" && !step.recovery && (
              <Anchor
                component="button"
                type="button"
                size="sm"
                onClick={() => run(() => post("/api/app/sessions/second-factor/resend", { challenge: step.challenge }))}
              >
                Send another code
              </Anchor>
            )}
            <Anchor
              id="use-recovery-code"
              component="button"
              type="button"
              size="sm"
              onClick={() => setStep({ ...step, recovery: !step.recovery })}
            >
              {step.recovery ? "Use a code instead" : "Use a recovery code"}
            </Anchor>
          </Stack>
        </form>
      )}
      {step.kind === "enroll" && (
        <Stack gap="sm" id="enroll-step">
          <Text>An organization you belong to requires a second factor. Set up an authenticator app to continue.</Text>
          {step.provisioning ? (
            <>
              <ProvisioningView provisioning={step.provisioning} />
              <ConfirmCode
                onConfirm={async (value) =>
                  follow(await post<SignInStep>("/api/app/sessions/enroll/confirm", { challenge: step.challenge, code: value }))
                }
              />
            </>
          ) : (
            <Button
              id="enroll-start"
              loading={busy}
              onClick={() =>
                run(async () => {
                  const provisioning = await post<Provisioning>("/api/app/sessions/enroll/totp", { challenge: step.challenge });
                  setStep({ ...step, provisioning });
                })
              }
            >
              Set up an authenticator app
            </Button>
          )}
        </Stack>
      )}
      {step.kind === "codes" && <RecoveryCodes codes={step.codes} onDone={done} />}
      <Text id="message" role="status" aria-live="polite" c={message ? "red" : undefined} size="sm">
        {message}
      </Text>
    </AuthFrame>
  );
}
