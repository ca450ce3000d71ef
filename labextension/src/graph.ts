/**
 * Pure helpers for the nbpipe DAG view: task states and their colours,
 * tooltips, search, and the "collapse by family" graph.
 *
 * Nothing in this module touches the DOM or the widget machinery, so it runs
 * unchanged in plain node for the unit tests.
 */

import {
  IStateStyle,
  STATE_PRIORITY,
  STATE_STYLES,
  STATES,
  TaskState
} from './states.generated.js';

// The state vocabulary is generated from the Python side
// (nbpipe/engine/shown_state.py); re-exported so callers need one import.
export { STATE_PRIORITY, STATE_STYLES, STATES };
export type { IStateStyle, TaskState };

/** The state of a task found neither in `states` nor in `nodes`. */
export const DEFAULT_STATE: TaskState = 'not_built';

/** One entry of the `nodes` trait. Every field may be absent in practice. */
export interface ITaskInfo {
  label?: string;
  family?: string;
  params?: { [name: string]: unknown };
  state?: string;
  reasons?: string[];
  outputs?: string[];
  duration?: number | null;
  error?: string | null;
  traceback?: string | null;
}

export type NodeMap = { [taskId: string]: ITaskInfo };
export type StateMap = { [taskId: string]: string };
export type Edge = [string, string];
export type StateCounts = { [state: string]: number };

/** Style for a state name this front end does not know (protocol drift). */
export const UNKNOWN_STATE_STYLE: IStateStyle = {
  label: 'unknown state',
  fill: '#ffffff',
  stroke: '#616161',
  description: 'a state this version of the front end does not know'
};

/**
 * States whose reasons are shown first ("why:") in a tooltip: every state
 * that is not settled-and-fine explains itself.
 */
const EXPLAINED_STATES: ReadonlySet<string> = new Set<TaskState>([
  'not_built',
  'stale',
  'failed',
  'upstream_failed',
  'invalidated',
  'external_missing',
  'unschedulable',
  'disabled'
]);

export function isKnownState(state: string): state is TaskState {
  return Object.prototype.hasOwnProperty.call(STATE_STYLES, state);
}

export function stateStyle(state: string): IStateStyle {
  return isKnownState(state) ? STATE_STYLES[state] : UNKNOWN_STATE_STYLE;
}

/** A state's name for people: its legend label, or the raw name made readable. */
export function stateLabel(state: string): string {
  return isKnownState(state) ? STATE_STYLES[state].label : state.replace(/_/g, ' ');
}

/** What a state says about a task (empty for an unknown state). */
export function stateMeaning(state: string): string {
  return isKnownState(state) ? STATE_STYLES[state].description : '';
}

/** Fill colour for a state. */
export function stateColour(state: string): string {
  return stateStyle(state).fill;
}

/**
 * The state to show for a task: the live `states` trait wins over the
 * snapshot in `nodes`; a task found in neither is `not_built`.
 */
export function effectiveState(
  taskId: string,
  nodes: NodeMap,
  states: StateMap
): string {
  const live = states[taskId];
  if (typeof live === 'string' && live) {
    return live;
  }
  const snap = nodes[taskId]?.state;
  return typeof snap === 'string' && snap ? snap : DEFAULT_STATE;
}

/**
 * `nodes` with each task's live `details` (the fields that changed during
 * the current run: reasons, duration, error, traceback) laid over it.
 * Returns `nodes` itself when there are no details.
 */
export function mergeDetails(nodes: NodeMap, details: { [taskId: string]: Partial<ITaskInfo> }): NodeMap {
  const ids = Object.keys(details);
  if (ids.length === 0) {
    return nodes;
  }
  const merged: NodeMap = { ...nodes };
  for (const id of ids) {
    const extra = details[id];
    if (extra && typeof extra === 'object' && id in nodes) {
      merged[id] = { ...nodes[id], ...extra };
    }
  }
  return merged;
}

/** How many of `taskIds` are in each state. */
export function countStates(
  taskIds: Iterable<string>,
  nodes: NodeMap,
  states: StateMap
): StateCounts {
  const counts: StateCounts = {};
  for (const id of taskIds) {
    const s = effectiveState(id, nodes, states);
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}

/**
 * Counts as text in legend order, with the states' labels, e.g.
 * `"2 running, 5 ran, 1 upstream failed"`.
 */
export function formatCounts(counts: StateCounts): string {
  const parts: string[] = [];
  const seen = new Set<string>();
  for (const s of STATES) {
    seen.add(s);
    if (counts[s]) {
      parts.push(`${counts[s]} ${stateLabel(s)}`);
    }
  }
  for (const s of Object.keys(counts).sort()) {
    if (!seen.has(s) && counts[s]) {
      parts.push(`${counts[s]} ${stateLabel(s)}`);
    }
  }
  return parts.join(', ');
}

/** The state a group of tasks is shown in (see STATE_PRIORITY). */
export function dominantState(counts: StateCounts): string {
  for (const s of STATE_PRIORITY) {
    if (counts[s]) {
      return s;
    }
  }
  const other = Object.keys(counts).find(s => counts[s] > 0);
  return other ?? DEFAULT_STATE;
}

export function familyOf(taskId: string, info: ITaskInfo | undefined): string {
  if (info?.family) {
    return info.family;
  }
  // Luigi-style ids look like "Family(param=value, ...)" or "Family_abc123".
  const m = /^[A-Za-z_][\w.]*/.exec(taskId);
  return m ? m[0] : taskId;
}

const MAX_TOOLTIP_REASONS = 8;

/**
 * Tooltip text of a task node: id, state (label and meaning), then the
 * reasons (and the first line of the error for a failed task).
 */
export function tooltipText(
  taskId: string,
  info: ITaskInfo | undefined,
  state: string
): string {
  const meaning = stateMeaning(state);
  const lines = [taskId, `state: ${stateLabel(state)}${meaning ? ` — ${meaning}` : ''}`];
  const reasons = Array.isArray(info?.reasons) ? info!.reasons : [];
  if (reasons.length && (EXPLAINED_STATES.has(state) || !isKnownState(state))) {
    lines.push('why:');
  } else if (reasons.length) {
    lines.push('notes:');
  }
  for (const r of reasons.slice(0, MAX_TOOLTIP_REASONS)) {
    lines.push(`  - ${r}`);
  }
  if (reasons.length > MAX_TOOLTIP_REASONS) {
    lines.push(`  ... ${reasons.length - MAX_TOOLTIP_REASONS} more`);
  }
  if (state === 'failed' && info?.error) {
    lines.push(`error: ${firstLine(info.error)}`);
  }
  return lines.join('\n');
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl >= 0 ? text.slice(0, nl) : text;
}

/**
 * Task ids matching a search query: each whitespace-separated term must occur
 * (case-insensitively) in the id, the label or the family.
 * Returns null for an empty query, meaning "no filter".
 */
export function matchTasks(
  nodes: NodeMap,
  query: string,
  taskIds: Iterable<string> = Object.keys(nodes)
): Set<string> | null {
  const terms = query.toLowerCase().split(/\s+/).filter(t => t.length > 0);
  if (terms.length === 0) {
    return null;
  }
  const found = new Set<string>();
  for (const id of taskIds) {
    const info = nodes[id];
    const hay = `${id}\n${info?.label ?? ''}\n${familyOf(id, info)}`.toLowerCase();
    if (terms.every(t => hay.includes(t))) {
      found.add(id);
    }
  }
  return found;
}

/** Prefix of the ids of collapsed family nodes (never a valid task id start). */
export const FAMILY_PREFIX = 'nbpipe-family:';

export function familyNodeId(family: string): string {
  return FAMILY_PREFIX + family;
}

export function familyFromNodeId(nodeId: string): string | null {
  return nodeId.startsWith(FAMILY_PREFIX)
    ? nodeId.slice(FAMILY_PREFIX.length)
    : null;
}

/**
 * Quote a string for DOT. Inside labels, ids and tooltips (escString) a
 * doubled backslash reads as one backslash; newlines become `\n`.
 */
export function dotQuote(text: string): string {
  const body = text
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\r?\n/g, '\\n');
  return `"${body}"`;
}

/** The rankdir of a DOT graph (e.g. "LR"), or null when it sets none. */
export function dotRankdir(dot: string): string | null {
  const m = /\brankdir\s*=\s*"?(TB|LR|BT|RL)"?/i.exec(dot);
  return m ? m[1].toUpperCase() : null;
}

export interface ICollapsedGraph {
  /** DOT source with one node per family. */
  dot: string;
  /**
   * Changes only when the collapsed graph's shape changes (families, their
   * sizes, the edges between them); state changes leave it alone, so the
   * view can recolour in place instead of laying out again.
   */
  key: string;
  /** family name -> member task ids (sorted). */
  families: Map<string, string[]>;
  /** Edges between families, deduplicated, without self-loops. */
  familyEdges: Edge[];
}

export interface ICollapseOptions {
  rankdir?: string | null;
  states?: StateMap;
  /** Families shown task by task (one node per member, labelled as in the full graph). */
  expanded?: ReadonlySet<string>;
}

/**
 * Build the "collapse by family" graph: one node per task family with the
 * number of members and their counts per state, and an edge between two
 * families when any of their members are linked. Edges whose ends are not in
 * `nodes` are dropped.
 */
export function collapseByFamily(
  nodes: NodeMap,
  edges: ReadonlyArray<readonly [string, string]>,
  options: ICollapseOptions = {}
): ICollapsedGraph {
  const states = options.states ?? {};
  const families = new Map<string, string[]>();
  const familyOfTask = new Map<string, string>();
  for (const id of Object.keys(nodes).sort()) {
    const fam = familyOf(id, nodes[id]);
    familyOfTask.set(id, fam);
    let members = families.get(fam);
    if (!members) {
      members = [];
      families.set(fam, members);
    }
    members.push(id);
  }
  const sortedFamilies = [...families.keys()].sort();

  const edgeSet = new Set<string>();
  const familyEdges: Edge[] = [];
  for (const e of edges) {
    if (!Array.isArray(e) || e.length < 2) {
      continue;
    }
    const a = familyOfTask.get(e[0]);
    const b = familyOfTask.get(e[1]);
    if (a === undefined || b === undefined || a === b) {
      continue;
    }
    const k = JSON.stringify([a, b]);
    if (!edgeSet.has(k)) {
      edgeSet.add(k);
      familyEdges.push([a, b]);
    }
  }
  familyEdges.sort((x, y) =>
    x[0] === y[0] ? cmp(x[1], y[1]) : cmp(x[0], y[0])
  );
  const expanded = sortedFamilies.filter(f => options.expanded?.has(f));

  const rankdir = options.rankdir ?? 'LR';
  const lines: string[] = [
    'digraph nbpipe_families {',
    `  rankdir=${dotQuote(rankdir)};`,
    '  node [shape=box, style="rounded,filled", fillcolor="#e0e0e0", ' +
      'fontname="sans-serif", fontsize=11, margin="0.15,0.06"];',
    '  edge [color="black"];'
  ];
  for (const fam of sortedFamilies) {
    const members = families.get(fam)!;
    if (options.expanded?.has(fam)) {
      for (const id of members) {
        const label = nodes[id]?.label || id;
        lines.push(`  ${dotQuote(id)} [id=${dotQuote(id)}, label=${dotQuote(label)}, tooltip=${dotQuote(id)}];`);
      }
      continue;
    }
    const counts = countStates(members, nodes, states);
    const n = members.length;
    const label = `${fam}\n${n} task${n === 1 ? '' : 's'}\n${formatCounts(counts)}`;
    const nid = familyNodeId(fam);
    lines.push(
      `  ${dotQuote(nid)} [id=${dotQuote(nid)}, label=${dotQuote(label)}, ` +
        `tooltip=${dotQuote(familyTooltip(fam, n, counts))}];`
    );
  }
  if (expanded.length === 0) {
    for (const [a, b] of familyEdges) {
      lines.push(`  ${dotQuote(familyNodeId(a))} -> ${dotQuote(familyNodeId(b))};`);
    }
  } else {
    for (const [a, b] of shownEdges(edges, familyOfTask, options.expanded!)) {
      lines.push(`  ${dotQuote(a)} -> ${dotQuote(b)};`);
    }
  }
  lines.push('}');

  const key = JSON.stringify([
    rankdir,
    sortedFamilies.map(f => [f, families.get(f)!.length]),
    familyEdges,
    expanded,
    // An expanded family's shape is its members' (the task ids say it) and their edges (counted).
    expanded.length ? edges.length : 0
  ]);
  return { dot: lines.join('\n'), key, families, familyEdges };
}

/**
 * The edges between the nodes of a collapsed graph in which some families are
 * expanded: a task of an expanded family is its own node, any other task its
 * family's node. Deduplicated and sorted, without self-loops.
 */
function shownEdges(
  edges: ReadonlyArray<readonly [string, string]>,
  familyOfTask: Map<string, string>,
  expanded: ReadonlySet<string>
): Edge[] {
  const shown = (id: string, fam: string): string => (expanded.has(fam) ? id : familyNodeId(fam));
  const seen = new Set<string>();
  const out: Edge[] = [];
  for (const e of edges) {
    if (!Array.isArray(e) || e.length < 2) {
      continue;
    }
    const fa = familyOfTask.get(e[0]);
    const fb = familyOfTask.get(e[1]);
    if (fa === undefined || fb === undefined) {
      continue;
    }
    const a = shown(e[0], fa);
    const b = shown(e[1], fb);
    const k = `${a}\u0000${b}`;
    if (a !== b && !seen.has(k)) {
      seen.add(k);
      out.push([a, b]);
    }
  }
  return out.sort((x, y) => (x[0] === y[0] ? cmp(x[1], y[1]) : cmp(x[0], y[0])));
}

export function familyTooltip(
  family: string,
  size: number,
  counts: StateCounts
): string {
  return `${family}: ${size} task${size === 1 ? '' : 's'}\n${formatCounts(counts)}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Split a Graphviz edge title "tail->head" into its two task ids. Task ids
 * may themselves contain "->", so every split point is tried against the
 * known ids.
 */
export function parseEdgeTitle(
  title: string,
  isKnown: (id: string) => boolean
): Edge | null {
  let at = title.indexOf('->');
  while (at >= 0) {
    const tail = title.slice(0, at);
    const head = title.slice(at + 2);
    if (isKnown(tail) && isKnown(head)) {
      return [tail, head];
    }
    at = title.indexOf('->', at + 1);
  }
  return null;
}

/** A task's last duration in seconds, for people. */
export function formatDuration(seconds: number | null | undefined): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    return '—';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  }
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h} h ${m} min ${s} s` : `${m} min ${s} s`;
}

/** A parameter value as short text. */
export function formatParam(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text;
  } catch {
    return String(value);
  }
}
