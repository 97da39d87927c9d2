import { describe, expect, it } from "vitest";
import { type Alert, alertBody, alertable, describeCondition, describeDelivery, draftOf, frequencyLabel, sentence, valueProblem } from "./alerts";

const alert = (change: Partial<Alert> = {}): Alert => ({
  id: 4,
  bookmark_id: 9,
  name: "Too few sign-ups",
  condition: { kind: "below", value: 10 },
  frequency: "weekly",
  emails: ["ann@example.com"],
  webhook: { url: "https://hooks.example.com/a", username: "tally", has_password: true },
  report_shape: "Insights of Sign up (total)",
  status: "active",
  invalid_reason: "",
  created_by: 1,
  created_at: "2026-01-01T00:00:00Z",
  next_check_at: "2026-01-08T00:00:00Z",
  ...change,
});

describe("alerts in words", () => {
  it("says when each condition fires", () => {
    expect(describeCondition({ kind: "above", value: 1500 })).toBe("Fires when the value is above 1,500");
    expect(describeCondition({ kind: "below", value: -2.5 })).toBe("Fires when the value is below -2.5");
    expect(describeCondition({ kind: "changes_by", value: 20 })).toBe("Fires when the value changes by 20 or more (up or down) from the previous period");
    expect(describeCondition({ kind: "changes_by_percent", value: 12.5 })).toBe(
      "Fires when the value changes by 12.5% or more (up or down) from the previous period",
    );
    expect(frequencyLabel("hourly")).toBe("Every hour");
    expect(frequencyLabel("monthly")).toBe("monthly");
  });
  it("says what the deliveries answered", () => {
    expect(describeDelivery(null)).toBe("");
    expect(describeDelivery({})).toBe("");
    expect(describeDelivery({ email: { sent: 2, failed: [] }, webhook: { status: 204, attempts: 1 } })).toBe("E-mail: 2 sent; Webhook: HTTP 204");
    expect(describeDelivery({ email: { sent: 0, failed: ["ann@example.com: refused"] }, webhook: { error: "connection refused", attempts: 3 } })).toBe(
      "E-mail: 0 sent, 1 failed (ann@example.com: refused); Webhook: connection refused after 3 attempts",
    );
    expect(describeDelivery({ webhook: { status: 500, attempts: 4 } })).toBe("Webhook: HTTP 500 after 4 attempts");
    expect(sentence("its saved report was deleted")).toBe("Its saved report was deleted.");
    expect(sentence("its report changed; save it again.")).toBe("Its report changed; save it again.");
  });
  it("watches only Insights and Funnels reports", () => {
    expect(alertable({ type: "insights" })).toBe(true);
    expect(alertable({ type: "funnels" })).toBe(true);
    expect(alertable({ type: "retention" })).toBe(false);
    expect(alertable({ type: "flows" })).toBe(false);
  });
});

describe("the alert dialog's draft", () => {
  it("starts a new alert on a report, sent to the caller", () => {
    const draft = draftOf(null, { id: 9, name: "Sign-ups" }, "me@example.com");
    expect(draft).toMatchObject({ bookmarkId: 9, name: "Sign-ups", kind: "above", value: "", frequency: "daily", emails: ["me@example.com"] });
    expect(valueProblem(draft)).toBe("Give a value");
    expect(alertBody({ ...draft, value: 100 }, null)).toEqual({
      bookmark_id: 9,
      name: "Sign-ups",
      condition: { kind: "above", value: 100 },
      frequency: "daily",
      emails: ["me@example.com"],
    });
  });
  it("sends a new webhook with its credentials, and no name when none is typed", () => {
    const draft = { ...draftOf(null), bookmarkId: 3, value: 5, kind: "changes_by" as const, webhookUrl: " https://h.example.com/x ", webhookUsername: "u", webhookPassword: "p" };
    expect(alertBody(draft, null)).toEqual({
      bookmark_id: 3,
      condition: { kind: "changes_by", value: 5 },
      frequency: "daily",
      emails: [],
      webhook: { url: "https://h.example.com/x", username: "u", password: "p" },
    });
  });
  it("keeps a stored password unless a new one is typed or its removal asked for", () => {
    const previous = alert();
    const draft = draftOf(previous);
    expect(draft).toMatchObject({ bookmarkId: 9, kind: "below", value: 10, frequency: "weekly", webhookUrl: "https://hooks.example.com/a", webhookPassword: "" });
    expect(alertBody(draft, previous).webhook).toEqual({ url: "https://hooks.example.com/a", username: "tally" });
    expect(alertBody({ ...draft, webhookPassword: "new" }, previous).webhook).toEqual({ url: "https://hooks.example.com/a", username: "tally", password: "new" });
    expect(alertBody({ ...draft, removePassword: true }, previous).webhook).toEqual({ url: "https://hooks.example.com/a", username: "tally", password: "" });
  });
  it("removes the webhook when its address is cleared, and sends none when there was none", () => {
    const previous = alert();
    expect(alertBody({ ...draftOf(previous), webhookUrl: "  " }, previous).webhook).toEqual({ url: "" });
    const without = alert({ webhook: null });
    expect("webhook" in alertBody(draftOf(without), without)).toBe(false);
  });
  it("refuses values that are not numbers, and negative changes", () => {
    expect(valueProblem({ kind: "above", value: -3 })).toBeNull();
    expect(valueProblem({ kind: "above", value: "abc" })).toBe("The value is a number");
    expect(valueProblem({ kind: "changes_by", value: -1 })).toBe("A change is measured up or down: give 0 or more");
    expect(valueProblem({ kind: "changes_by_percent", value: 0 })).toBeNull();
  });
});
