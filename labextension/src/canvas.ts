/**
 * The graph on screen: the scrolling box, the Graphviz SVG in it, an index of
 * its node and edge groups, and painting nodes by state in place (fill,
 * outline, `nbpipe-state-<state>` class, tooltip).
 */
import {
  NodeMap,
  StateMap,
  countStates,
  dominantState,
  effectiveState,
  familyFromNodeId,
  familyTooltip,
  formatCounts,
  parseEdgeTitle,
  stateStyle,
  tooltipText
} from './graph.js';
import { h, stateClass } from './dom.js';
import { svgNodeIds } from './svg-text.js';
import { cutSvg } from './svg-chunks.js';

/**
 * Node and edge groups put into the page at a time, and the most main-thread
 * time a frame spends putting them in. The browser then styles, lays out and
 * paints them in the same task, which costs more as the SVG grows: when a
 * frame (putting in plus drawing) took longer than FRAME_TARGET_MS the budget
 * halves, when it was quick it grows back.
 */
const DRAW_PIECE = 20;
const DRAW_BUDGET_MS = 30;
const MIN_DRAW_BUDGET_MS = 4;
const FRAME_TARGET_MS = 70;

/** The next frame (or, in a hidden page where frames stop, a tenth of a second). */
function nextFrame(): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(resolve, 100);
    window.requestAnimationFrame(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const XLINK_NS = 'http://www.w3.org/1999/xlink';

/** What the SVG on screen shows: one node per task, or per task family. */
export type ShownMode = 'tasks' | 'families';

/** One rendered `g.node` of the current SVG. */
export interface INodeEntry {
  id: string;
  g: SVGGElement;
  /** Outline shapes to fill (polygon, ellipse, path). */
  shapes: SVGGraphicsElement[];
  texts: SVGTextElement[];
  title: SVGTitleElement | null;
  /** `<a>` wrappers Graphviz adds for tooltips; they carry xlink:title. */
  anchors: Element[];
  state: string;
  tooltip: string;
  /** Collapsed view: the label line with the counts per state. */
  countsText: SVGTextElement | null;
}

export interface IEdgeEntry {
  g: SVGGElement;
  from: string;
  to: string;
}

export class GraphCanvas {
  /** The scrolling box (`div.nbpipe-graph`). */
  readonly box: HTMLDivElement;
  private readonly status: HTMLDivElement;
  private readonly host: HTMLDivElement;

  nodes = new Map<string, INodeEntry>();
  edges: IEdgeEntry[] = [];
  mode: ShownMode = 'tasks';
  /** Collapsed view: family name -> member task ids. */
  families = new Map<string, string[]>();
  /** Bumped by every draw and clear: a draw still putting pieces in stops when it changes. */
  private drawing = 0;

  constructor() {
    this.box = h('div', 'nbpipe-graph');
    this.status = h('div', 'nbpipe-graph-status');
    this.host = h('div', 'nbpipe-svg-host');
    this.box.append(this.status, this.host);
  }

  setStatus(text: string): void {
    this.status.textContent = text;
    this.status.hidden = text === '';
  }

  /**
   * Replace the SVG with Graphviz markup and index it, in pieces: the frame
   * (the `<svg>` with its size) at once, then the node and edge groups a
   * frame's worth at a time (at most DRAW_BUDGET_MS of work each), calling
   * `drawn` with each piece's new nodes so they are painted as they appear.
   * While pieces are still coming the box carries `data-drawing`.
   * Resolves true once everything is in, false when a later draw (or clear)
   * superseded this one.
   */
  async draw(
    svg: string,
    mode: ShownMode,
    families: Map<string, string[]>,
    drawn: (entries: INodeEntry[]) => void
  ): Promise<boolean> {
    const drawing = ++this.drawing;
    const { frame, items } = cutSvg(svg);
    this.host.innerHTML = frame;
    this.mode = mode;
    this.families = families;
    this.nodes = new Map();
    this.edges = [];
    delete this.box.dataset.drawing; // an earlier draw's, if it was superseded
    const svgEl = this.host.querySelector('svg');
    if (!svgEl) {
      return true;
    }
    svgEl.classList.add('nbpipe-svg');
    const graph = svgEl.querySelector('g.graph') ?? svgEl;
    const ids = new Set(svgNodeIds(svg));
    const isKnown = (id: string): boolean => ids.has(id);
    this.box.dataset.drawing = '';
    let next = 0;
    let budget = DRAW_BUDGET_MS;
    let started = performance.now();
    while (next < items.length) {
      if (next > 0) {
        await nextFrame();
        if (drawing !== this.drawing) {
          return false;
        }
        const took = performance.now() - started; // putting the last piece in, and drawing it
        budget =
          took > FRAME_TARGET_MS
            ? Math.max(MIN_DRAW_BUDGET_MS, budget / 2)
            : Math.min(DRAW_BUDGET_MS, budget * 1.5);
      }
      started = performance.now();
      do {
        const end = Math.min(next + DRAW_PIECE, items.length);
        const last = graph.lastElementChild;
        graph.insertAdjacentHTML('beforeend', items.slice(next, end).join(''));
        const added: INodeEntry[] = [];
        for (let el = last ? last.nextElementSibling : graph.firstElementChild; el; el = el.nextElementSibling) {
          this.index(el as SVGGElement, isKnown, added);
        }
        drawn(added);
        next = end;
      } while (next < items.length && performance.now() - started < budget);
    }
    delete this.box.dataset.drawing;
    return true;
  }

  /** Add one top-level group of the SVG to the node or edge index. */
  private index(g: SVGGElement, isKnown: (id: string) => boolean, added: INodeEntry[]): void {
    if (g.classList.contains('edge')) {
      const title = g.querySelector(':scope > title')?.textContent ?? '';
      const ends = parseEdgeTitle(title, isKnown);
      if (ends) {
        this.edges.push({ g, from: ends[0], to: ends[1] });
      }
      return;
    }
    const id = g.getAttribute('id');
    if (!g.classList.contains('node') || id === null) {
      return;
    }
    const texts = Array.from(g.querySelectorAll<SVGTextElement>('text'));
    const entry: INodeEntry = {
      id,
      g,
      shapes: Array.from(g.querySelectorAll<SVGGraphicsElement>('polygon, ellipse, path')),
      texts,
      title: g.querySelector(':scope > title'),
      anchors: Array.from(g.querySelectorAll('a')),
      state: '',
      tooltip: '',
      countsText: familyFromNodeId(id) !== null && texts.length > 0 ? texts[texts.length - 1] : null
    };
    this.nodes.set(id, entry);
    added.push(entry);
  }

  /** The SVG on screen, if any. */
  get svg(): SVGSVGElement | null {
    return this.host.querySelector('svg');
  }

  /** Forget the SVG's elements (the view is going away); a draw under way stops. */
  clear(): void {
    this.drawing++;
    this.nodes.clear();
    this.edges = [];
  }

  /** The id of the node group an event target is in, or null outside any node. */
  nodeIdAt(target: EventTarget | null): string | null {
    const g = (target as Element | null)?.closest?.('g.node');
    if (!g || !this.host.contains(g)) {
      return null;
    }
    return g.getAttribute('id');
  }

  /** The tasks the legend counts: those the kernel described, else the nodes drawn. */
  countedTaskIds(nodes: NodeMap): Iterable<string> {
    const ids = Object.keys(nodes);
    return ids.length === 0 && this.mode === 'tasks' ? this.nodes.keys() : ids;
  }

  /** Recolour every node (or those given) and refresh its tooltip, in place. */
  paint(nodes: NodeMap, states: StateMap, entries: Iterable<INodeEntry> = this.nodes.values()): void {
    for (const entry of entries) {
      const fam = familyFromNodeId(entry.id);
      if (fam === null) {
        const state = effectiveState(entry.id, nodes, states);
        paintNode(entry, state, tooltipText(entry.id, nodes[entry.id], state));
        continue;
      }
      // A family node of the collapsed view: the counts of its members.
      const members = this.families.get(fam) ?? [];
      const counts = countStates(members, nodes, states);
      const line = formatCounts(counts);
      if (entry.countsText && entry.countsText.textContent !== line) {
        entry.countsText.textContent = line;
      }
      paintNode(entry, dominantState(counts), familyTooltip(fam, members.length, counts));
    }
  }

  /** Outline the selected node (at most one). */
  markSelected(nodeId: string | null): void {
    for (const entry of this.nodes.values()) {
      entry.g.classList.toggle('nbpipe-selected', entry.id === nodeId);
    }
  }
}

function paintNode(entry: INodeEntry, state: string, tooltip: string): void {
  if (entry.state !== state) {
    if (entry.state) {
      entry.g.classList.remove(stateClass(entry.state));
    }
    entry.g.classList.add(stateClass(state));
    const style = stateStyle(state);
    if (entry.shapes.length > 0) {
      for (const shape of entry.shapes) {
        shape.style.fill = style.fill;
        shape.style.stroke = style.stroke;
      }
    } else {
      // Shapeless nodes (shape=plaintext/none): colour the text instead.
      for (const t of entry.texts) {
        t.style.fill = style.stroke;
      }
    }
    entry.state = state;
  }
  if (entry.tooltip !== tooltip) {
    if (entry.title) {
      entry.title.textContent = tooltip;
    }
    for (const a of entry.anchors) {
      a.setAttributeNS(XLINK_NS, 'xlink:title', tooltip);
    }
    entry.tooltip = tooltip;
  }
}
