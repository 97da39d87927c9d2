// Flows as the query engine takes and answers them, and their answer drawn as a Sankey:
// one column per step, one node per event at that step, links weighted by users.
import type { components } from "./schema";
import { lastDays } from "./report";

export type Flows = components["schemas"]["Flows"];
export type FlowsAnswer = components["schemas"]["FlowsAnswer"];
export type FlowNode = components["schemas"]["FlowNode"];
export type FlowLink = components["schemas"]["FlowLink"];
export type FlowPath = components["schemas"]["FlowPath"];
export type FlowStep = components["schemas"]["FlowStep"];

/** Most steps either side of the anchor (the engine refuses more). */
export const MAX_FLOW_STEPS = 10;

export function defaultFlows(today: Date): Flows {
  // The anchor starts empty, as a funnel's steps do: there is no sensible default event.
  return { range: lastDays(today, 30), anchor: { event: "" }, steps_after: 3, steps_before: 0, window_seconds: 30 * 86400 };
}

/** A step as people read it: the anchor, or how far after or before it. */
export function stepLabel(step: number): string {
  if (step === 0) return "Anchor";
  return step > 0 ? `${step} after` : `${-step} before`;
}

/**
 * A node's name in the chart. ECharts joins links to nodes by name, so the name carries the
 * step: the same event at two steps must be two nodes, or the flow would loop on itself.
 */
export function flowNodeName(step: number, event: string): string {
  return `${stepLabel(step)} · ${event}`;
}

/** A Sankey node, with what the label and tooltip show beside ECharts' own fields. */
export interface SankeyNode {
  name: string;
  value: number;
  /** The column: 0 for the first step shown. */
  depth: number;
  itemStyle: { color: string };
  step: number;
  event: string;
}

/** The events' colours (ECharts' classic palette); merged events are grey. */
const PALETTE = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"];
const OTHER_COLOR = "#adb5bd";
/** The engine's name for the events merged at a step. */
export const OTHER_EVENTS = "Other events";

export interface SankeyLink {
  source: string;
  target: string;
  value: number;
}

/** An ECharts option drawing a flows answer as a Sankey diagram. */
export function flowsOption(answer: FlowsAnswer) {
  const first = answer.steps.length ? Math.min(...answer.steps.map((s) => s.step)) : 0;
  const nodes: SankeyNode[] = [];
  const seen = new Set<string>();
  // One colour per event, whatever its step, so the eye can follow an event across steps.
  const colors = new Map<string, string>();
  const colorOf = (event: string) => {
    if (event === OTHER_EVENTS) return OTHER_COLOR;
    if (!colors.has(event)) colors.set(event, PALETTE[colors.size % PALETTE.length]);
    return colors.get(event) as string;
  };
  const add = (step: number, event: string, value: number) => {
    const name = flowNodeName(step, event);
    if (seen.has(name)) return;
    seen.add(name);
    nodes.push({ name, value, depth: step - first, itemStyle: { color: colorOf(event) }, step, event });
  };
  // A step nobody reached has no nodes, and an empty answer none at all.
  for (const step of answer.steps) for (const node of step.nodes) if (node.users > 0) add(step.step, node.event, node.users);
  const links: SankeyLink[] = answer.links
    .filter((link) => link.users > 0)
    .map((link) => ({ source: flowNodeName(link.from_step, link.from), target: flowNodeName(link.from_step + 1, link.to), value: link.users }));
  // The engine names every link's ends among the steps' nodes; should one ever be missing,
  // ECharts would refuse the whole chart, so it gets a node of its own.
  for (const link of answer.links) {
    if (link.users <= 0) continue;
    add(link.from_step, link.from, link.users);
    add(link.from_step + 1, link.to, link.users);
  }
  const byName = new Map(nodes.map((node) => [node.name, node]));
  return {
    aria: { enabled: true },
    tooltip: {
      trigger: "item",
      formatter: (p: { dataType?: string; name: string; value: number; data: SankeyNode | SankeyLink }) => {
        const users = `${Number(p.value).toLocaleString("en-US")} users`;
        if (p.dataType === "edge") {
          const link = p.data as SankeyLink;
          const from = byName.get(link.source);
          const to = byName.get(link.target);
          return `${escapeHtml(from?.event ?? link.source)} → ${escapeHtml(to?.event ?? link.target)}: ${users}`;
        }
        const node = p.data as SankeyNode;
        return `${escapeHtml(stepLabel(node.step))}: ${escapeHtml(node.event)}<br/>${users}`;
      },
    },
    series: [
      {
        type: "sankey",
        left: 16,
        right: 140,
        top: 16,
        bottom: 16,
        nodeAlign: "left",
        layoutIterations: 32,
        emphasis: { focus: "adjacency" },
        lineStyle: { color: "gradient", curveness: 0.5, opacity: 0.35 },
        // The name carries the step for uniqueness; the label shows the event only.
        label: { formatter: (p: { data: SankeyNode }) => p.data.event },
        data: nodes,
        links,
      },
    ],
  };
}

/** Event names come from the tracked data, and the tooltip renders HTML. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A path as a table shows it. */
export function pathText(path: FlowPath): string {
  return path.events.join(" → ");
}
