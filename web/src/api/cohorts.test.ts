import { describe, expect, it } from "vitest";
import {
  type CohortCondition,
  type CohortDraft,
  bodyOf,
  definitionOf,
  draftOf,
  draftProblem,
  emptyDraft,
  filterWords,
  mayManage,
  newCondition,
  summarize,
  summary,
  usersDefinition,
} from "./cohorts";
import { COHORT_OPERATORS, filterOf, fromPickerValue, operatorsFor, pickerValue, takesValue } from "../screens/analysis/filterModel";

const names = (id: number) => ({ 7: "Power users", 9: "Churned" })[id];

describe("cohort definitions in words", () => {
  it("says what users did, with the comparison and the window", () => {
    const did: CohortCondition = { kind: "behavior", event: "Purchase", comparison: "at_least", count: 3, window: { kind: "last_days", days: 30 } };
    expect(summarize(did)).toBe("did “Purchase” at least 3 times in the last 30 days");
    expect(
      summarize({ kind: "behavior", event: "Sign up", comparison: "exactly", count: 1, window: { kind: "between", range: { from_date: "2026-01-01", to_date: "2026-01-31" } } }),
    ).toBe("did “Sign up” exactly 1 time between 2026-01-01 and 2026-01-31");
    expect(
      summarize({
        kind: "behavior",
        event: "$all_events",
        filters: [{ property: "plan", operator: "equals", value: ["pro", "team"] }],
        comparison: "at_most",
        count: 0,
        window: { kind: "last_days", days: 1 },
      }),
    ).toBe("did any event where plan is pro or team at most 0 times in the last day");
  });
  it("says profile conditions, other cohorts and lists of users", () => {
    expect(summarize({ kind: "profile", filter: { property: "country", source: "user", operator: "equals", value: ["FR"] } })).toBe("profile country is FR");
    expect(summarize({ kind: "profile", filter: { property: "$email", source: "user", operator: "is_set" } })).toBe("profile $email is set");
    expect(summarize({ kind: "cohort", id: 7 }, names)).toBe("in cohort “Power users”");
    expect(summarize({ kind: "cohort", id: 9, negate: true }, names)).toBe("not in cohort “Churned”");
    expect(summarize({ kind: "cohort", id: 4 }, names)).toBe("in cohort #4");
    expect(summarize(usersDefinition(["a", "b"]))).toBe("one of the users a, b");
    expect(summarize(usersDefinition(["a", "b", "c", "d", "a"]))).toBe("one of 4 listed users");
  });
  it("joins all and any, bracketing nested groups", () => {
    const definition: CohortCondition = {
      kind: "all",
      conditions: [
        { kind: "cohort", id: 7 },
        { kind: "any", conditions: [{ kind: "profile", filter: { property: "plan", source: "user", operator: "equals", value: ["pro"] } }, { kind: "cohort", id: 9, negate: true }] },
      ],
    };
    expect(summary(definition, names)).toBe("In cohort “Power users” and (profile plan is pro or not in cohort “Churned”)");
    expect(summarize({ kind: "any", conditions: [] })).toBe("nobody");
    expect(summarize({ kind: "all", conditions: [{ kind: "cohort", id: 7 }] }, names)).toBe("in cohort “Power users”");
  });
  it("says cohort filters", () => {
    expect(filterWords({ property: "7", source: "cohort", operator: "is_true" }, names)).toBe("in cohort “Power users”");
    expect(filterWords({ property: "7", source: "cohort", operator: "is_false" }, names)).toBe("not in cohort “Power users”");
  });
});

describe("the cohort builder", () => {
  const draft: CohortDraft = {
    name: " Buyers ",
    description: "",
    shared: true,
    match: "any",
    conditions: [
      { kind: "behavior", event: "Purchase", comparison: "at_least", count: 2, days: 14 },
      { kind: "profile", property: "plan", operator: "equals", value: "pro, team" },
      { kind: "profile", property: "age", operator: "greater_than", value: "30" },
      { kind: "cohort", id: 7, negate: false },
      { kind: "cohort", id: 9, negate: true },
    ],
  };
  it("makes the definition the server takes", () => {
    expect(definitionOf(draft)).toEqual({
      kind: "any",
      conditions: [
        { kind: "behavior", event: "Purchase", comparison: "at_least", count: 2, window: { kind: "last_days", days: 14 } },
        { kind: "profile", filter: { property: "plan", source: "user", operator: "equals", value: ["pro", "team"] } },
        { kind: "profile", filter: { property: "age", source: "user", operator: "greater_than", value: 30 } },
        { kind: "cohort", id: 7 },
        { kind: "cohort", id: 9, negate: true },
      ],
    });
    expect(bodyOf(draft)).toMatchObject({ name: "Buyers", description: "", shared: true });
  });
  it("reads a saved definition back, keeping what it cannot edit", () => {
    const saved = bodyOf(draft);
    expect(draftOf({ ...saved, description: "", shared: true })).toEqual({ ...draft, name: "Buyers" });
    const users = usersDefinition(["a"]);
    const back = draftOf({ name: "From a funnel", description: "", shared: false, definition: users });
    expect(back.match).toBe("all");
    expect(back.conditions).toEqual([{ kind: "fixed", condition: users }]);
    expect(definitionOf(back)).toEqual({ kind: "all", conditions: [users] });
  });
  it("says what is missing", () => {
    expect(draftProblem(emptyDraft())).toBe("Give the cohort a name.");
    expect(draftProblem({ ...emptyDraft(), name: "x" })).toBe("Condition 1: Choose an event.");
    expect(draftProblem({ ...emptyDraft(), name: "x", conditions: [] })).toBe("Add a condition.");
    expect(draftProblem({ ...emptyDraft(), name: "x", conditions: [newCondition("not_in_cohort")] })).toBe("Condition 1: Choose a cohort.");
    expect(draftProblem(draft)).toBeNull();
    expect(draftProblem({ ...draft, name: "" }, false)).toBeNull();
  });
  it("lets the creator or an admin change a cohort", () => {
    expect(mayManage({ created_by: 3 }, 3, false)).toBe(true);
    expect(mayManage({ created_by: 3 }, 4, false)).toBe(false);
    expect(mayManage({ created_by: null }, undefined, true)).toBe(true);
    expect(mayManage({ created_by: null }, undefined, false)).toBe(false);
  });
});

describe("cohort filters", () => {
  it("picks a cohort as a filter on its membership", () => {
    expect(fromPickerValue("cohort:7")).toEqual({ property: "7", source: "cohort" });
    expect(pickerValue("7", "cohort")).toBe("cohort:7");
    expect(filterOf("7", "equals", "anything", "cohort")).toEqual({ property: "7", source: "cohort", operator: "is_true" });
    expect(filterOf("7", "is_false", "", "cohort")).toEqual({ property: "7", source: "cohort", operator: "is_false" });
  });
  it("offers in/not in cohort for cohorts only", () => {
    expect(operatorsFor("cohort")).toBe(COHORT_OPERATORS);
    expect(COHORT_OPERATORS.map((o) => o.label)).toEqual(["in cohort", "not in cohort"]);
    expect(operatorsFor("user").map((o) => o.value)).toContain("equals");
    expect(operatorsFor(undefined).map((o) => o.value)).not.toContain("is_true");
    expect(takesValue("is_true")).toBe(false);
    expect(takesValue("equals")).toBe(true);
  });
});
