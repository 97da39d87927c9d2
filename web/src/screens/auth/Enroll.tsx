// Enrolling an authenticator app: the QR code (rendered by the server's QR library), the
// secret to type instead, a first code to confirm; then the recovery codes, shown once.
import { useState } from "react";
import { Alert, Button, Code, Image, List, Stack, Text, TextInput } from "@mantine/core";
import { useAction } from "../common";
import type { Provisioning } from "../../api/types";

export function ProvisioningView({ provisioning }: { provisioning: Provisioning }) {
  return (
    <Stack gap="xs" align="center">
      <Image
        src={`data:image/png;base64,${provisioning.qr_png_base64}`}
        alt="QR code to scan with your authenticator app"
        w={200}
        h={200}
      />
      <Text size="sm">
        Or type this secret: <Code data-testid="totp-secret">{provisioning.secret}</Code>
      </Text>
    </Stack>
  );
}

export function ConfirmCode({ onConfirm, label = "Code from your authenticator app" }: { onConfirm: (code: string) => Promise<void>; label?: string }) {
  const [code, setCode] = useState("");
  const { busy, error, run } = useAction();
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        run(() => onConfirm(code.trim()));
      }}
    >
      <Stack gap="sm">
        <TextInput
          id="enroll-code"
          label={label}
          value={code}
          onChange={(event) => setCode(event.currentTarget.value)}
          inputMode="numeric"
          autoComplete="one-time-code"
          required
        />
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Button type="submit" loading={busy} id="enroll-confirm">
          Confirm
        </Button>
      </Stack>
    </form>
  );
}

export function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <Stack gap="sm">
      <Text>
        Keep these recovery codes somewhere safe. Each signs you in once if you lose your phone; they are not shown again.
      </Text>
      <List data-testid="recovery-codes" spacing={2}>
        {codes.map((code) => (
          <List.Item key={code}>
            <Code>{code}</Code>
          </List.Item>
        ))}
      </List>
      <Button onClick={onDone} id="recovery-codes-done">
        I have saved them
      </Button>
    </Stack>
  );
}
