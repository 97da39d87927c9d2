import { describe, expect, it } from "vitest";
import { distinctIdsOf, pollInterval, privacyBody, privacyPaths, statusOf } from "./privacy";

describe("privacy requests", () => {
  it("reads one distinct id a line, trimmed, each once", () => {
    expect(distinctIdsOf("")).toEqual([]);
    expect(distinctIdsOf("  alice \r\n\nbob\nalice\n  \n42")).toEqual(["alice", "bob", "42"]);
  });
  it("reads the list again only while a request runs", () => {
    expect(pollInterval(undefined)).toBe(false);
    expect(pollInterval([{ status: "SUCCESS" }, { status: "REVOKED" }, { status: "FAILURE" }])).toBe(false);
    expect(pollInterval([{ status: "SUCCESS" }, { status: "PENDING" }])).toBe(3000);
    expect(pollInterval([{ status: "STARTED" }], 1000)).toBe(1000);
  });
  it("sends the disclosure type with retrievals only", () => {
    expect(privacyBody("retrieval", ["a"], "CCPA", "Sources")).toEqual({ distinct_ids: ["a"], compliance_type: "CCPA", disclosure_type: "Sources" });
    expect(privacyBody("deletion", ["a", "b"], "GDPR", "Data")).toEqual({ distinct_ids: ["a", "b"], compliance_type: "GDPR" });
  });
  it("names the routes and the statuses", () => {
    expect(privacyPaths.create(3, "deletion")).toBe("/api/app/projects/3/data-deletions");
    expect(privacyPaths.create(3, "retrieval")).toBe("/api/app/projects/3/data-retrievals");
    expect(privacyPaths.download(3, "abc")).toBe("/api/app/projects/3/data-retrievals/abc/download");
    expect(privacyPaths.deletion(3, "a/b")).toBe("/api/app/projects/3/data-deletions/a%2Fb");
    expect(statusOf("STARTED")).toEqual({ label: "In progress", color: "blue" });
    expect(statusOf("ODD").label).toBe("ODD");
  });
});
