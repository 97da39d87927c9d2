import { describe, expect, it } from "vitest";
import { cleanTags, editBody, formOf, lexiconPaths, mergeTargets } from "./lexicon";

const entry = { display_name: "Sign up", description: "A new account", tags: ["growth"], hidden: false, owners: ["ana@example.com"] };

describe("lexicon edits", () => {
  it("sends nothing when nothing changed", () => {
    expect(editBody(entry, formOf(entry))).toEqual({});
  });
  it("sends only what changed, trimmed", () => {
    expect(editBody(entry, { ...formOf(entry), display_name: "  Signed up ", hidden: true })).toEqual({ display_name: "Signed up", hidden: true });
    expect(editBody(entry, { ...formOf(entry), description: "" })).toEqual({ description: "" });
  });
  it("cleans tags and sends them only when they differ", () => {
    expect(cleanTags([" a ", "", "b", "a"])).toEqual(["a", "b"]);
    expect(editBody(entry, { ...formOf(entry), tags: ["growth ", "growth"] })).toEqual({});
    expect(editBody(entry, { ...formOf(entry), tags: [] })).toEqual({ tags: [] });
  });
  it("sends owners only when they differ", () => {
    expect(editBody(entry, { ...formOf(entry), owners: [" ana@example.com", "ana@example.com"] })).toEqual({});
    expect(editBody(entry, { ...formOf(entry), owners: ["ana@example.com", "bo@example.com"] })).toEqual({ owners: ["ana@example.com", "bo@example.com"] });
    expect(editBody(entry, { ...formOf(entry), owners: [] })).toEqual({ owners: [] });
  });
  it("offers the others of a kind to merge into, not the merged ones", () => {
    const entries = [
      { name: "Signup", merged_into: "" },
      { name: "sign_up", merged_into: "Signup" },
      { name: "Purchase", merged_into: "" },
      { name: "Purchase", merged_into: "" },
      { name: "Login", merged_into: "" },
    ];
    expect(mergeTargets("Login", entries)).toEqual(["Purchase", "Signup"]);
  });
  it("encodes names in paths", () => {
    expect(lexiconPaths.event(3, "a/b c")).toBe("/api/app/projects/3/lexicon/events/a%2Fb%20c");
    expect(lexiconPaths.dropped(3, "$x")).toBe("/api/app/projects/3/lexicon/events/%24x/dropped");
    expect(lexiconPaths.property(3, "p")).toBe("/api/app/projects/3/lexicon/properties/p");
    expect(lexiconPaths.classified(3, "e mail")).toBe("/api/app/projects/3/lexicon/properties/e%20mail/classified");
    expect(lexiconPaths.merged(3, "event", "a/b")).toBe("/api/app/projects/3/lexicon/events/a%2Fb/merged");
    expect(lexiconPaths.merged(3, "property", "$os")).toBe("/api/app/projects/3/lexicon/properties/%24os/merged");
    expect(lexiconPaths.import(3, false)).toBe("/api/app/projects/3/lexicon/import");
    expect(lexiconPaths.import(3, true)).toBe("/api/app/projects/3/lexicon/import?replace=true");
  });
});
