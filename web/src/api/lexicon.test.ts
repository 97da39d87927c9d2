import { describe, expect, it } from "vitest";
import { cleanTags, editBody, formOf, lexiconPaths } from "./lexicon";

const entry = { display_name: "Sign up", description: "A new account", tags: ["growth"], hidden: false };

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
  it("encodes names in paths", () => {
    expect(lexiconPaths.event(3, "a/b c")).toBe("/api/app/projects/3/lexicon/events/a%2Fb%20c");
    expect(lexiconPaths.dropped(3, "$x")).toBe("/api/app/projects/3/lexicon/events/%24x/dropped");
    expect(lexiconPaths.property(3, "p")).toBe("/api/app/projects/3/lexicon/properties/p");
    expect(lexiconPaths.classified(3, "e mail")).toBe("/api/app/projects/3/lexicon/properties/e%20mail/classified");
  });
});
