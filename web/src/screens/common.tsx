// What every screen shares: its title, and its loading, empty and error states.
import { useState, type ReactNode } from "react";
import { Alert, Button, Center, Code, CopyButton, Group, Loader, Stack, Text, Title } from "@mantine/core";
import type { UseQueryResult } from "@tanstack/react-query";
import { messageOf } from "../api/client";

export function Screen({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <Stack gap="md" component="section" aria-label={title}>
      <div style={{ display: "flex", justifyContent: "space-between", alignItems: "center", gap: 12, flexWrap: "wrap" }}>
        <Title order={1} size="h2">
          {title}
        </Title>
        {actions}
      </div>
      {children}
    </Stack>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <Center py="xl" role="status" aria-live="polite">
      <Loader size="sm" aria-hidden />
      <Text ml="sm" c="dimmed">
        {label}
      </Text>
    </Center>
  );
}

export function ErrorNote({ error, title = "Something went wrong" }: { error: unknown; title?: string }) {
  return (
    <Alert color="red" title={title} role="alert" data-testid="error">
      {messageOf(error)}
    </Alert>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <Text c="dimmed" py="md" data-testid="empty">
      {children}
    </Text>
  );
}

/** Renders a query's data, or its loading or error state. */
export function QueryView<T>({ query, children }: { query: UseQueryResult<T>; children: (data: T) => ReactNode }) {
  if (query.isPending) return <Loading />;
  if (query.isError) return <ErrorNote error={query.error} />;
  return <>{children(query.data)}</>;
}

/** A reason shown where an action is not offered. */
export function NotAllowed({ children }: { children: ReactNode }) {
  return (
    <Text size="sm" c="dimmed" data-testid="not-allowed">
      {children}
    </Text>
  );
}

export const ORG_ROLES = [
  { value: "owner", label: "Owner" },
  { value: "admin", label: "Admin" },
  { value: "billing_admin", label: "Billing Admin" },
  { value: "member", label: "Member" },
];

export const PROJECT_ROLES = [
  { value: "owner", label: "Owner" },
  { value: "admin", label: "Admin" },
  { value: "analyst", label: "Analyst" },
  { value: "consumer", label: "Consumer" },
];

export function roleLabel(role: string): string {
  return [...ORG_ROLES, ...PROJECT_ROLES].find((r) => r.value === role)?.label ?? role;
}

export function when(text: string | null | undefined): string {
  if (!text) return "—";
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}

/**
 * A form's submit: runs an action, keeps `busy` while it runs and `error` (the server's
 * message) when it fails. One place for the try/catch every form needs.
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (action: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (failure) {
      setError(messageOf(failure));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

/** A value to copy: its label (unless `showLabel` is off), the value, and a Copy button
 * named "Copy <label>". */
export function Copyable({ label, value, showLabel = true, testId }: { label: string; value: string; showLabel?: boolean; testId?: string }) {
  return (
    <Group gap="xs" wrap="nowrap">
      {showLabel && (
        <Text size="sm" w={220}>
          {label}
        </Text>
      )}
      <Code style={{ overflowWrap: "anywhere" }} data-testid={testId}>
        {value}
      </Code>
      <CopyButton value={value}>
        {({ copied, copy }) => (
          <Button size="compact-xs" variant="subtle" onClick={copy} aria-label={`Copy ${label}`}>
            {copied ? "Copied" : "Copy"}
          </Button>
        )}
      </CopyButton>
    </Group>
  );
}
