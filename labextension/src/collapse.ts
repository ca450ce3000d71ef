/**
 * What to lay out: the kernel's DOT (one node per task) or, collapsed by
 * family, the family graph; and whether a change of `nodes`/`edges` needs a
 * new layout or only a recolour.
 */
import { Edge, NodeMap, StateMap, collapseByFamily, dotRankdir } from './graph.js';
import { ShownMode } from './canvas.js';

/**
 * Above this many tasks the view starts collapsed by family: a full layout of
 * 2 000 tasks takes about 3 s, 1 000 about 0.7 s (see `npm run bench`).
 */
export const AUTO_COLLAPSE_TASKS = 1500;

export function startsCollapsed(taskCount: number): boolean {
  return taskCount > AUTO_COLLAPSE_TASKS;
}

/** The trait values a layout is made from. */
export interface IGraphData {
  dot: string;
  nodes: NodeMap;
  edges: Edge[];
  states: StateMap;
}

export interface ILayoutPlan {
  /** DOT to lay out; empty when there is nothing to show yet. */
  dot: string;
  /** Identifies the layout: the DOT itself, or the collapsed graph's shape. */
  key: string;
  mode: ShownMode;
  /** Collapsed: family name -> member task ids; otherwise empty. */
  families: Map<string, string[]>;
}

/**
 * What to lay out: the DOT, or collapsed, the family graph (with the
 * `expanded` families shown task by task).
 */
export function planLayout(
  collapsed: boolean,
  data: IGraphData,
  expanded: ReadonlySet<string> = new Set()
): ILayoutPlan {
  if (!collapsed) {
    return { dot: data.dot, key: data.dot, mode: 'tasks', families: new Map() };
  }
  const c = collapseByFamily(data.nodes, data.edges, {
    rankdir: dotRankdir(data.dot),
    states: data.states,
    expanded
  });
  return {
    dot: c.families.size > 0 ? c.dot : '',
    key: c.key,
    mode: 'families',
    families: c.families
  };
}

/**
 * Collapsed, after `nodes` or `edges` changed: the families to show when the
 * collapsed graph on screen (`shownMode`, `shownKey`) still has the right
 * shape, or null when it must be laid out again.
 */
export function unchangedFamilies(
  data: IGraphData,
  shownMode: ShownMode,
  shownKey: string,
  expanded: ReadonlySet<string> = new Set()
): Map<string, string[]> | null {
  const c = collapseByFamily(data.nodes, data.edges, { rankdir: dotRankdir(data.dot), expanded });
  return shownMode === 'families' && c.key === shownKey ? c.families : null;
}
