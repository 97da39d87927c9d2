import { describe, expect, it } from "vitest";
import { chooseDataView, chosenDataView, defaultDataView, effectiveDataView, withDataView } from "./dataViews";
import type { DataView } from "./types";

const view = (id: number, is_default = false): DataView => ({ id, name: `View ${id}`, description: "", filters: {}, is_default, members: [] });

describe("data views", () => {
  it("adds the chosen view to the read routes only", () => {
    chooseDataView(7, 3);
    expect(chosenDataView(7)).toBe(3);
    expect(withDataView("/api/app/projects/7/query")).toBe("/api/app/projects/7/query?workspace_id=3");
    expect(withDataView("/api/app/projects/7/query/users")).toBe("/api/app/projects/7/query/users?workspace_id=3");
    expect(withDataView("/api/app/projects/7/users?page=0&page_size=50")).toBe("/api/app/projects/7/users?page=0&page_size=50&workspace_id=3");
    expect(withDataView("/api/app/projects/7/users/activity?distinct_id=a")).toBe("/api/app/projects/7/users/activity?distinct_id=a&workspace_id=3");
    expect(withDataView("/api/app/projects/7/events/live?limit=100")).toBe("/api/app/projects/7/events/live?limit=100&workspace_id=3");
    expect(withDataView("/api/app/projects/7/lexicon")).toBe("/api/app/projects/7/lexicon?workspace_id=3");
    expect(withDataView("/api/app/projects/7/lexicon/export")).toBe("/api/app/projects/7/lexicon/export?workspace_id=3");
    expect(withDataView("/api/app/projects/7/cohorts/preview")).toBe("/api/app/projects/7/cohorts/preview?workspace_id=3");
    expect(withDataView("/api/app/projects/7/cohorts/12/users?page=0")).toBe("/api/app/projects/7/cohorts/12/users?page=0&workspace_id=3");
    expect(withDataView("/api/app/projects/7/cohorts/12/export")).toBe("/api/app/projects/7/cohorts/12/export?workspace_id=3");
    // Not reads of the data: unchanged.
    expect(withDataView("/api/app/projects/7/lexicon/properties/p/classified")).toBe("/api/app/projects/7/lexicon/properties/p/classified");
    expect(withDataView("/api/app/projects/7/cohorts/12")).toBe("/api/app/projects/7/cohorts/12");
    expect(withDataView("/api/app/projects/7/data-views")).toBe("/api/app/projects/7/data-views");
    expect(withDataView("/api/app/projects/7/users/activity?workspace_id=5")).toBe("/api/app/projects/7/users/activity?workspace_id=5");
    // Another project, with no choice: unchanged.
    expect(withDataView("/api/app/projects/8/query")).toBe("/api/app/projects/8/query");
  });
  it("sends nothing once the choice is cleared, and keeps All Project Data (0) as a choice", () => {
    chooseDataView(7, 0);
    expect(withDataView("/api/app/projects/7/query")).toBe("/api/app/projects/7/query?workspace_id=0");
    chooseDataView(7, null);
    expect(withDataView("/api/app/projects/7/query")).toBe("/api/app/projects/7/query");
  });
  it("falls back as the server does: All Project Data, else the default view", () => {
    expect(defaultDataView([view(0), view(2, true)])?.id).toBe(0);
    expect(defaultDataView([view(1), view(2, true)])?.id).toBe(2);
    expect(effectiveDataView([view(0), view(2)], 2)?.id).toBe(2);
    expect(effectiveDataView([view(0), view(2)], 9)?.id).toBe(0);
  });
});
