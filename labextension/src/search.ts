/**
 * Search and filtering: the search box dims the nodes (and edges) that do not
 * match; Enter picks the first match, Escape clears the query.
 */
import { NodeMap, familyNodeId, familyOf, matchTasks } from './graph.js';
import { GraphCanvas, INodeEntry, ShownMode } from './canvas.js';
import { DomListeners, h } from './dom.js';

/** Typing settles for this long (ms) before the filter is applied. */
const FILTER_DELAY = 120;

/**
 * The ids of the shown nodes matching `query`, or null without a query.
 * Collapsed, a family node matches when any of its tasks does.
 */
export function matchingNodeIds(
  mode: ShownMode,
  nodes: NodeMap,
  query: string,
  shownIds: Iterable<string>
): Set<string> | null {
  if (mode === 'families') {
    const tasks = matchTasks(nodes, query);
    if (tasks === null) {
      return null;
    }
    const ids = new Set<string>();
    for (const id of tasks) {
      ids.add(familyNodeId(familyOf(id, nodes[id])));
    }
    return ids;
  }
  return matchTasks(nodes, query, shownIds);
}

export class SearchBox {
  readonly input: HTMLInputElement;
  /** "n of m" while a query is active. */
  readonly count: HTMLSpanElement;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    listeners: DomListeners,
    private readonly canvas: GraphCanvas,
    private readonly nodes: () => NodeMap,
    private readonly onPick: (entry: INodeEntry) => void
  ) {
    this.input = h('input', 'nbpipe-search');
    this.input.type = 'search';
    this.input.placeholder = 'Filter tasks…';
    this.input.title =
      'Dim the tasks whose id, label or family do not contain every word; Enter selects the first match';
    this.input.spellcheck = false;
    listeners.bind(this.input, 'input', () => this.schedule());
    listeners.bind<KeyboardEvent>(this.input, 'keydown', e => this.onKey(e));
    this.count = h('span', 'nbpipe-match-count');
  }

  /** Dim what does not match the query, on the graph now on screen. */
  apply(): void {
    const canvas = this.canvas;
    const match = matchingNodeIds(canvas.mode, this.nodes(), this.input.value, canvas.nodes.keys());
    let shown = 0;
    for (const entry of canvas.nodes.values()) {
      const hit = match !== null && match.has(entry.id);
      if (hit) {
        shown++;
      }
      entry.g.classList.toggle('nbpipe-dim', match !== null && !hit);
      entry.g.classList.toggle('nbpipe-match', hit);
    }
    for (const edge of canvas.edges) {
      const keep = match === null || (match.has(edge.from) && match.has(edge.to));
      edge.g.classList.toggle('nbpipe-dim', !keep);
    }
    this.count.textContent = match === null ? '' : `${shown} of ${canvas.nodes.size}`;
  }

  /** Cancel a pending filter (the view is going away). */
  dispose(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private schedule(): void {
    this.dispose();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.apply();
    }, FILTER_DELAY);
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === 'Escape') {
      this.input.value = '';
      this.apply();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      this.apply();
      const first = Array.from(this.canvas.nodes.values()).find(entry =>
        entry.g.classList.contains('nbpipe-match')
      );
      if (first) {
        this.onPick(first);
      }
    }
  }
}
