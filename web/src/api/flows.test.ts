import { describe, expect, it } from "vitest";
import { type FlowsAnswer, defaultFlows, flowNodeName, flowsOption, pathText, stepLabel } from "./flows";

// Sign up, then Purchase or View, then Purchase again: the same event at two steps.
const answer: FlowsAnswer = {
  users: 10,
  steps: [
    { step: -1, nodes: [{ event: "View", users: 4 }], dropped: 6 },
    { step: 0, nodes: [{ event: "Sign up", users: 10 }], dropped: 0 },
    {
      step: 1,
      nodes: [
        { event: "Purchase", users: 6 },
        { event: "View", users: 3 },
      ],
      dropped: 1,
    },
    {
      step: 2,
      nodes: [
        { event: "Purchase", users: 4 },
        { event: "Other events", users: 2 },
      ],
      dropped: 4,
    },
  ],
  links: [
    { from_step: -1, from: "View", to: "Sign up", users: 4 },
    { from_step: 0, from: "Sign up", to: "Purchase", users: 6 },
    { from_step: 0, from: "Sign up", to: "View", users: 3 },
    { from_step: 1, from: "Purchase", to: "Purchase", users: 3 },
    { from_step: 1, from: "View", to: "Purchase", users: 1 },
    { from_step: 1, from: "View", to: "Other events", users: 2 },
  ],
  paths: [
    { events: ["Sign up", "Purchase", "Purchase"], users: 3 },
    { events: ["Sign up", "View", "Other events"], users: 2 },
  ],
};

function sankey(answer: FlowsAnswer) {
  const series = flowsOption(answer).series[0];
  return { nodes: series.data, links: series.links };
}

describe("flows as a Sankey", () => {
  it("makes the same event at two steps two nodes, with unique names", () => {
    const { nodes } = sankey(answer);
    const names = nodes.map((n) => n.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain(flowNodeName(1, "Purchase"));
    expect(names).toContain(flowNodeName(2, "Purchase"));
    expect(flowNodeName(1, "Purchase")).not.toBe(flowNodeName(2, "Purchase"));
    // Every step's events, and nothing else.
    expect(nodes.length).toBe(answer.steps.reduce((n, s) => n + s.nodes.length, 0));
    for (const step of answer.steps) {
      const here = nodes.filter((n) => n.step === step.step);
      expect(new Set(here.map((n) => n.name)).size).toBe(step.nodes.length);
      expect(here.map((n) => [n.event, n.value])).toEqual(step.nodes.map((n) => [n.event, n.users]));
    }
  });

  it("colours an event alike at every step", () => {
    const { nodes } = sankey(answer);
    const color = (step: number, event: string) => nodes.find((n) => n.name === flowNodeName(step, event))?.itemStyle.color;
    expect(color(1, "Purchase")).toBe(color(2, "Purchase"));
    expect(color(-1, "View")).toBe(color(1, "View"));
    expect(color(1, "Purchase")).not.toBe(color(1, "View"));
  });

  it("puts each step in its own column, the first step shown at the left", () => {
    const { nodes } = sankey(answer);
    expect(nodes.find((n) => n.name === flowNodeName(-1, "View"))?.depth).toBe(0);
    expect(nodes.find((n) => n.name === flowNodeName(0, "Sign up"))?.depth).toBe(1);
    expect(nodes.find((n) => n.name === flowNodeName(2, "Other events"))?.depth).toBe(3);
  });

  it("weighs each link by the answer's users and joins consecutive steps", () => {
    const { nodes, links } = sankey(answer);
    expect(links.map((l) => l.value)).toEqual(answer.links.map((l) => l.users));
    const names = new Set(nodes.map((n) => n.name));
    for (const link of links) {
      expect(names.has(link.source)).toBe(true);
      expect(names.has(link.target)).toBe(true);
    }
    expect(links[3]).toEqual({ source: flowNodeName(1, "Purchase"), target: flowNodeName(2, "Purchase"), value: 3 });
  });

  it("draws nothing for an empty answer", () => {
    const empty: FlowsAnswer = {
      users: 0,
      steps: [
        { step: 0, nodes: [], dropped: 0 },
        { step: 1, nodes: [], dropped: 0 },
      ],
      links: [],
      paths: [],
    };
    expect(sankey(empty)).toEqual({ nodes: [], links: [] });
    expect(sankey({ users: 0, steps: [], links: [], paths: [] })).toEqual({ nodes: [], links: [] });
  });

  it("labels steps and paths for people", () => {
    expect([stepLabel(-2), stepLabel(0), stepLabel(3)]).toEqual(["2 before", "Anchor", "3 after"]);
    expect(pathText(answer.paths[0])).toBe("Sign up → Purchase → Purchase");
    expect(defaultFlows(new Date(2026, 11, 6)).range).toEqual({ from_date: "2026-11-07", to_date: "2026-12-06" });
  });
});
