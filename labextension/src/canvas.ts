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

  /** Replace the SVG (markup produced by Graphviz from the kernel's DOT) and index it. */
  install(svg: string, mode: ShownMode, families: Map<string, string[]>): void {
    this.host.innerHTML = svg;
    this.mode = mode;
    this.families = families;
    this.nodes = new Map();
    this.edges = [];

    const svgEl = this.host.querySelector('svg');
    if (!svgEl) {
      return;
    }
    svgEl.classList.add('nbpipe-svg');
    for (const g of Array.from(svgEl.querySelectorAll<SVGGElement>('g.node'))) {
      const id = g.getAttribute('id');
      if (id === null) {
        continue;
      }
      const texts = Array.from(g.querySelectorAll<SVGTextElement>('text'));
      this.nodes.set(id, {
        id,
        g,
        shapes: Array.from(g.querySelectorAll<SVGGraphicsElement>('polygon, ellipse, path')),
        texts,
        title: g.querySelector(':scope > title'),
        anchors: Array.from(g.querySelectorAll('a')),
        state: '',
        tooltip: '',
        countsText: mode === 'families' && texts.length > 0 ? texts[texts.length - 1] : null
      });
    }
    const isKnown = (id: string): boolean => this.nodes.has(id);
    for (const g of Array.from(svgEl.querySelectorAll<SVGGElement>('g.edge'))) {
      const title = g.querySelector(':scope > title')?.textContent ?? '';
      const ends = parseEdgeTitle(title, isKnown);
      if (ends) {
        this.edges.push({ g, from: ends[0], to: ends[1] });
      }
    }
  }

  /** The SVG on screen, if any. */
  get svg(): SVGSVGElement | null {
    return this.host.querySelector('svg');
  }

  /** Forget the SVG's elements (the view is going away). */
  clear(): void {
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

  /** Recolour every node and refresh its tooltip, in place. */
  paint(nodes: NodeMap, states: StateMap): void {
    if (this.mode === 'families') {
      for (const entry of this.nodes.values()) {
        const fam = familyFromNodeId(entry.id);
        const members = fam === null ? [] : this.families.get(fam) ?? [];
        const counts = countStates(members, nodes, states);
        const line = formatCounts(counts);
        if (entry.countsText && entry.countsText.textContent !== line) {
          entry.countsText.textContent = line;
        }
        paintNode(entry, dominantState(counts), familyTooltip(fam ?? entry.id, members.length, counts));
      }
    } else {
      for (const entry of this.nodes.values()) {
        const state = effectiveState(entry.id, nodes, states);
        paintNode(entry, state, tooltipText(entry.id, nodes[entry.id], state));
      }
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
