/**
 * The nbpipe DAG widget: model (synced with the kernel) and view.
 *
 * Protocol (the Python side is the DagWidget model in the nbpipe package):
 * - traits `dot`, `nodes`, `edges`, `states`, `summary_html`, `running`;
 * - the view sends `{action, task_id?}` with action one of `run`,
 *   `invalidate`, `invalidate_downstream`, `run_all`, `stop`;
 * - the kernel sends `{event: "refused", task_id, reason}` and
 *   `{event: "error", message}`, shown in the message line.
 *
 * Layout runs only when the DOT (or, collapsed, the family structure)
 * changes; a change of `states` recolours the existing SVG in place.
 */
import {
  DOMWidgetModel,
  DOMWidgetView,
  ISerializers
} from '@jupyter-widgets/base';

import {
  Edge,
  ITaskInfo,
  NodeMap,
  STATES,
  StateMap,
  collapseByFamily,
  countStates,
  dominantState,
  dotRankdir,
  effectiveState,
  familyFromNodeId,
  familyNodeId,
  familyOf,
  familyTooltip,
  formatCounts,
  formatDuration,
  formatParam,
  matchTasks,
  parseEdgeTitle,
  stateStyle,
  tooltipText
} from './graph.js';
import { layoutDot } from './layout.js';
import { MODULE_NAME, MODULE_VERSION_RANGE } from './version.js';

export type Action =
  | 'run'
  | 'invalidate'
  | 'invalidate_downstream'
  | 'run_all'
  | 'stop';

const XLINK_NS = 'http://www.w3.org/1999/xlink';

/**
 * Above this many tasks the view starts collapsed by family: a full layout of
 * 2 000 tasks takes about 3 s, 1 000 about 0.7 s (see `npm run bench`).
 */
export const AUTO_COLLAPSE_TASKS = 1500;

/** Tasks listed at most in a family's detail panel. */
const MAX_FAMILY_MEMBERS_LISTED = 300;

export class DagModel extends DOMWidgetModel {
  defaults(): ReturnType<DOMWidgetModel['defaults']> {
    return {
      ...super.defaults(),
      _model_name: DagModel.model_name,
      _model_module: DagModel.model_module,
      _model_module_version: DagModel.model_module_version,
      _view_name: DagModel.view_name,
      _view_module: DagModel.view_module,
      _view_module_version: DagModel.view_module_version,
      dot: '',
      nodes: {},
      edges: [],
      states: {},
      summary_html: '',
      running: false
    };
  }

  static serializers: ISerializers = {
    ...DOMWidgetModel.serializers
  };

  static model_name = 'DagModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION_RANGE;
  static view_name = 'DagView';
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION_RANGE;
}

/** One rendered `g.node` of the current SVG. */
interface INodeEntry {
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

interface IEdgeEntry {
  g: SVGGElement;
  from: string;
  to: string;
}

type Selection = { kind: 'task'; id: string } | { kind: 'family'; id: string };

interface IListener {
  target: EventTarget;
  type: string;
  fn: EventListener;
}

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) {
    e.className = className;
  }
  if (text !== undefined) {
    e.textContent = text;
  }
  return e;
}

function stateClass(state: string): string {
  return `nbpipe-state-${state.replace(/[^\w-]/g, '_')}`;
}

function swatch(state: string): HTMLSpanElement {
  const s = h('span', 'nbpipe-swatch');
  const style = stateStyle(state);
  s.style.backgroundColor = style.fill;
  s.style.borderColor = style.stroke;
  return s;
}

export class DagView extends DOMWidgetView {
  // All fields are assigned in render(); none has an initialiser, so the
  // Backbone constructor (which runs initialize()) is never undone.
  private listeners!: IListener[];
  private timers!: Set<ReturnType<typeof setTimeout>>;
  private generation!: number;

  private searchInput!: HTMLInputElement;
  private matchCount!: HTMLSpanElement;
  private collapseToggle!: HTMLInputElement;
  private fitToggle!: HTMLInputElement;
  private runningBadge!: HTMLSpanElement;
  private messageLine!: HTMLDivElement;
  private messageText!: HTMLSpanElement;
  private legendCounts!: Map<string, HTMLSpanElement>;
  private legendItems!: Map<string, HTMLSpanElement>;
  private graphBox!: HTMLDivElement;
  private graphStatus!: HTMLDivElement;
  private svgHost!: HTMLDivElement;
  private detail!: HTMLDivElement;
  private detailTitle!: HTMLSpanElement;
  private detailContent!: HTMLDivElement;
  private detailSignature!: string;
  private actionButtons!: Map<HTMLButtonElement, Action>;
  private summary!: HTMLDivElement;

  private nodeEntries!: Map<string, INodeEntry>;
  private edgeEntries!: IEdgeEntry[];
  /** 'tasks' or 'families': what the SVG currently on screen shows. */
  private shownMode!: 'tasks' | 'families';
  /** DOT source or collapsed key of the SVG on screen (or being laid out). */
  private layoutKey!: string;
  private families!: Map<string, string[]>;
  private selection!: Selection | null;
  private drag!: {
    x: number;
    y: number;
    left: number;
    top: number;
    moved: boolean;
    pointerId: number;
  } | null;
  private suppressClick!: boolean;
  private searchTimer!: ReturnType<typeof setTimeout> | null;

  render(): void {
    this.listeners = [];
    this.timers = new Set();
    this.generation = 0;
    this.nodeEntries = new Map();
    this.edgeEntries = [];
    this.shownMode = 'tasks';
    this.layoutKey = '';
    this.families = new Map();
    this.selection = null;
    this.drag = null;
    this.suppressClick = false;
    this.searchTimer = null;
    this.detailSignature = '';
    this.actionButtons = new Map();

    this.el.classList.add('nbpipe-dag');
    this.buildDom();

    this.listenTo(this.model, 'change:dot', this.onDotChanged);
    this.listenTo(this.model, 'change:nodes', this.onStructureChanged);
    this.listenTo(this.model, 'change:edges', this.onStructureChanged);
    this.listenTo(this.model, 'change:states', this.onStatesChanged);
    this.listenTo(this.model, 'change:summary_html', this.renderSummary);
    this.listenTo(this.model, 'change:running', this.onRunningChanged);
    this.listenTo(this.model, 'msg:custom', this.onCustomMessage);

    const taskCount = Object.keys(this.nodes).length;
    if (taskCount > AUTO_COLLAPSE_TASKS) {
      this.collapseToggle.checked = true;
      this.showMessage(
        `${taskCount} tasks: shown collapsed by family. Untick "Collapse by family" to lay out every task.`,
        'info'
      );
    }
    this.renderSummary();
    this.onRunningChanged();
    void this.relayout();
  }

  remove(): any {
    // render() may never have run (a view removed before it was displayed).
    this.generation = (this.generation ?? 0) + 1;
    for (const { target, type, fn } of this.listeners ?? []) {
      target.removeEventListener(type, fn);
    }
    this.listeners = [];
    for (const t of this.timers ?? []) {
      clearTimeout(t);
    }
    this.timers?.clear();
    this.nodeEntries?.clear();
    this.edgeEntries = [];
    return super.remove();
  }

  // ---------------------------------------------------------------- model

  private get dot(): string {
    const v: unknown = this.model.get('dot');
    return typeof v === 'string' ? v : '';
  }

  private get nodes(): NodeMap {
    const v: unknown = this.model.get('nodes');
    return v && typeof v === 'object' ? (v as NodeMap) : {};
  }

  private get edges(): Edge[] {
    const v: unknown = this.model.get('edges');
    return Array.isArray(v) ? (v as Edge[]) : [];
  }

  private get states(): StateMap {
    const v: unknown = this.model.get('states');
    return v && typeof v === 'object' ? (v as StateMap) : {};
  }

  private get running(): boolean {
    return this.model.get('running') === true;
  }

  private get collapsed(): boolean {
    return this.collapseToggle.checked;
  }

  // ------------------------------------------------------------------ DOM

  /** Bind a DOM listener and remember it for remove(). Called once per element. */
  private bindDom<E extends Event>(
    target: EventTarget,
    type: string,
    fn: (event: E) => void
  ): void {
    const listener = fn as EventListener;
    target.addEventListener(type, listener);
    this.listeners.push({ target, type, fn: listener });
  }

  private actionButton(label: string, action: Action, title: string): HTMLButtonElement {
    const b = h('button', `nbpipe-button nbpipe-action-${action}`, label);
    b.type = 'button';
    b.title = title;
    b.dataset.action = action;
    this.actionButtons.set(b, action);
    this.bindDom(b, 'click', () => this.sendAction(action));
    return b;
  }

  private buildDom(): void {
    // Toolbar: search, toggles, global actions.
    const toolbar = h('div', 'nbpipe-toolbar');
    this.searchInput = h('input', 'nbpipe-search');
    this.searchInput.type = 'search';
    this.searchInput.placeholder = 'Filter tasks…';
    this.searchInput.title =
      'Dim the tasks whose id, label or family do not contain every word; Enter selects the first match';
    this.searchInput.spellcheck = false;
    this.bindDom(this.searchInput, 'input', () => this.scheduleFilter());
    this.bindDom<KeyboardEvent>(this.searchInput, 'keydown', e => this.onSearchKey(e));
    this.matchCount = h('span', 'nbpipe-match-count');

    const collapseLabel = h('label', 'nbpipe-toggle');
    this.collapseToggle = h('input');
    this.collapseToggle.type = 'checkbox';
    collapseLabel.title = 'Show one node per task family, with counts per state';
    collapseLabel.append(this.collapseToggle, ' Collapse by family');
    this.bindDom(this.collapseToggle, 'change', () => {
      void this.relayout();
    });

    const fitLabel = h('label', 'nbpipe-toggle');
    this.fitToggle = h('input');
    this.fitToggle.type = 'checkbox';
    fitLabel.title = 'Scale the graph to the width of the widget';
    fitLabel.append(this.fitToggle, ' Fit width');
    this.bindDom(this.fitToggle, 'change', () => {
      this.graphBox.classList.toggle('nbpipe-fit', this.fitToggle.checked);
    });

    this.runningBadge = h('span', 'nbpipe-running-badge', 'running…');
    toolbar.append(
      this.searchInput,
      this.matchCount,
      collapseLabel,
      fitLabel,
      h('span', 'nbpipe-spacer'),
      this.runningBadge,
      this.actionButton('Run all', 'run_all', 'Run every task of the pipeline'),
      this.actionButton('Stop', 'stop', 'Stop the current run')
    );

    // Message line for the kernel's "refused"/"error" events.
    this.messageLine = h('div', 'nbpipe-message');
    this.messageLine.hidden = true;
    this.messageText = h('span', 'nbpipe-message-text');
    const dismiss = h('button', 'nbpipe-message-dismiss', '×');
    dismiss.type = 'button';
    dismiss.title = 'Dismiss';
    this.bindDom(dismiss, 'click', () => this.clearMessage());
    this.messageLine.append(this.messageText, dismiss);

    // Legend.
    const legend = h('div', 'nbpipe-legend');
    this.legendCounts = new Map();
    this.legendItems = new Map();
    for (const s of STATES) {
      const item = h('span', `nbpipe-legend-item ${stateClass(s)}`);
      item.title = `${s.replace(/_/g, ' ')}: ${stateStyle(s).description}`;
      const count = h('span', 'nbpipe-legend-count', '0');
      item.append(swatch(s), h('span', 'nbpipe-legend-name', s.replace(/_/g, ' ')), count);
      this.legendCounts.set(s, count);
      this.legendItems.set(s, item);
      legend.append(item);
    }

    // Graph box (scrolls; drag to pan) and detail panel.
    const body = h('div', 'nbpipe-body');
    this.graphBox = h('div', 'nbpipe-graph');
    this.graphStatus = h('div', 'nbpipe-graph-status');
    this.svgHost = h('div', 'nbpipe-svg-host');
    this.graphBox.append(this.graphStatus, this.svgHost);
    this.bindDom<MouseEvent>(this.graphBox, 'click', e => this.onGraphClick(e));
    this.bindDom<PointerEvent>(this.graphBox, 'pointerdown', e => this.onPointerDown(e));
    this.bindDom<PointerEvent>(this.graphBox, 'pointermove', e => this.onPointerMove(e));
    this.bindDom<PointerEvent>(this.graphBox, 'pointerup', e => this.onPointerUp(e));
    this.bindDom<PointerEvent>(this.graphBox, 'pointercancel', e => this.onPointerUp(e));

    this.detail = h('div', 'nbpipe-detail');
    this.detail.hidden = true;
    const header = h('div', 'nbpipe-detail-header');
    this.detailTitle = h('span', 'nbpipe-detail-title');
    const close = h('button', 'nbpipe-detail-close', '×');
    close.type = 'button';
    close.title = 'Close';
    this.bindDom(close, 'click', () => this.select(null));
    header.append(this.detailTitle, close);
    this.detailContent = h('div', 'nbpipe-detail-content');
    // Member links of a family are rebuilt with the content: one delegated listener.
    this.bindDom<MouseEvent>(this.detailContent, 'click', e => this.onDetailClick(e));
    const actions = h('div', 'nbpipe-actions');
    actions.append(
      this.actionButton('Run', 'run', 'Run this task and what it needs'),
      this.actionButton('Invalidate', 'invalidate', "Invalidate this task's outputs"),
      this.actionButton(
        'Invalidate downstream',
        'invalidate_downstream',
        'Invalidate this task and every task that depends on it'
      ),
      this.actionButton('Run all', 'run_all', 'Run every task of the pipeline'),
      this.actionButton('Stop', 'stop', 'Stop the current run')
    );
    this.detail.append(header, this.detailContent, actions);
    body.append(this.graphBox, this.detail);

    this.summary = h('div', 'nbpipe-summary');

    this.el.append(toolbar, this.messageLine, legend, body, this.summary);
  }

  // --------------------------------------------------------------- layout

  private onDotChanged(): void {
    if (this.collapsed) {
      this.onStructureChanged();
    } else {
      void this.relayout();
    }
  }

  /** `nodes` or `edges` changed: re-layout only if the collapsed shape changed. */
  private onStructureChanged(): void {
    if (this.collapsed) {
      const c = collapseByFamily(this.nodes, this.edges, {
        rankdir: dotRankdir(this.dot)
      });
      if (this.shownMode !== 'families' || c.key !== this.layoutKey) {
        void this.relayout();
        return;
      }
      this.families = c.families;
    }
    this.recolour();
    this.applyFilter();
    this.refreshDetail();
  }

  private onStatesChanged(): void {
    this.recolour();
    this.refreshDetail();
  }

  /** Lay out the current graph (tasks or families) and install the SVG. */
  private async relayout(): Promise<void> {
    const gen = ++this.generation;
    let dot: string;
    let key: string;
    let mode: 'tasks' | 'families';
    let families = new Map<string, string[]>();
    if (this.collapsed) {
      const c = collapseByFamily(this.nodes, this.edges, {
        rankdir: dotRankdir(this.dot),
        states: this.states
      });
      dot = c.families.size > 0 ? c.dot : '';
      key = c.key;
      families = c.families;
      mode = 'families';
    } else {
      dot = this.dot;
      key = dot;
      mode = 'tasks';
    }
    this.layoutKey = key;

    if (!dot.trim()) {
      this.installSvg('', mode, families);
      this.setStatus(
        mode === 'families' ? 'No task information to collapse yet.' : 'No graph yet.'
      );
      return;
    }
    this.setStatus('Laying out…');
    try {
      const svg = await layoutDot(dot);
      if (gen !== this.generation) {
        return; // a newer layout (or remove()) superseded this one
      }
      this.installSvg(svg, mode, families);
      this.setStatus('');
    } catch (err) {
      if (gen !== this.generation) {
        return;
      }
      this.setStatus('');
      this.showMessage(`Could not lay out the graph: ${errorText(err)}`, 'error');
    }
  }

  private setStatus(text: string): void {
    this.graphStatus.textContent = text;
    this.graphStatus.hidden = text === '';
  }

  private installSvg(
    svg: string,
    mode: 'tasks' | 'families',
    families: Map<string, string[]>
  ): void {
    this.svgHost.innerHTML = svg; // produced by Graphviz from kernel DOT
    this.shownMode = mode;
    this.families = families;
    this.nodeEntries = new Map();
    this.edgeEntries = [];

    const svgEl = this.svgHost.querySelector('svg');
    if (svgEl) {
      svgEl.classList.add('nbpipe-svg');
      for (const g of Array.from(svgEl.querySelectorAll<SVGGElement>('g.node'))) {
        const id = g.getAttribute('id');
        if (id === null) {
          continue;
        }
        const texts = Array.from(g.querySelectorAll<SVGTextElement>('text'));
        this.nodeEntries.set(id, {
          id,
          g,
          shapes: Array.from(
            g.querySelectorAll<SVGGraphicsElement>('polygon, ellipse, path')
          ),
          texts,
          title: g.querySelector(':scope > title'),
          anchors: Array.from(g.querySelectorAll('a')),
          state: '',
          tooltip: '',
          countsText: mode === 'families' && texts.length > 0 ? texts[texts.length - 1] : null
        });
      }
      const isKnown = (id: string): boolean => this.nodeEntries.has(id);
      for (const g of Array.from(svgEl.querySelectorAll<SVGGElement>('g.edge'))) {
        const title = g.querySelector(':scope > title')?.textContent ?? '';
        const ends = parseEdgeTitle(title, isKnown);
        if (ends) {
          this.edgeEntries.push({ g, from: ends[0], to: ends[1] });
        }
      }
    }
    this.recolour();
    this.applyFilter();
    this.markSelection();
    this.refreshDetail();
  }

  // ------------------------------------------------------------- colours

  /** Recolour nodes and update tooltips and the legend, in place. */
  private recolour(): void {
    const nodes = this.nodes;
    const states = this.states;
    if (this.shownMode === 'families') {
      for (const entry of this.nodeEntries.values()) {
        const fam = familyFromNodeId(entry.id);
        const members = fam === null ? [] : this.families.get(fam) ?? [];
        const counts = countStates(members, nodes, states);
        const line = formatCounts(counts);
        if (entry.countsText && entry.countsText.textContent !== line) {
          entry.countsText.textContent = line;
        }
        this.paintNode(
          entry,
          dominantState(counts),
          familyTooltip(fam ?? entry.id, members.length, counts)
        );
      }
    } else {
      for (const entry of this.nodeEntries.values()) {
        const state = effectiveState(entry.id, nodes, states);
        this.paintNode(entry, state, tooltipText(entry.id, nodes[entry.id], state));
      }
    }

    let taskIds: Iterable<string> = Object.keys(nodes);
    if (Object.keys(nodes).length === 0 && this.shownMode === 'tasks') {
      taskIds = this.nodeEntries.keys();
    }
    const counts = countStates(taskIds, nodes, states);
    for (const [s, span] of this.legendCounts) {
      const n = counts[s] ?? 0;
      span.textContent = String(n);
      this.legendItems.get(s)?.classList.toggle('nbpipe-legend-zero', n === 0);
    }
  }

  private paintNode(entry: INodeEntry, state: string, tooltip: string): void {
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

  // -------------------------------------------------------------- search

  private scheduleFilter(): void {
    if (this.searchTimer !== null) {
      clearTimeout(this.searchTimer);
      this.timers.delete(this.searchTimer);
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.searchTimer = null;
      this.applyFilter();
    }, 120);
    this.searchTimer = t;
    this.timers.add(t);
  }

  /** The ids of the shown nodes matching the search box, or null without a query. */
  private matchingNodeIds(): Set<string> | null {
    const nodes = this.nodes;
    const query = this.searchInput.value;
    if (this.shownMode === 'families') {
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
    return matchTasks(nodes, query, this.nodeEntries.keys());
  }

  private applyFilter(): void {
    const match = this.matchingNodeIds();
    let shown = 0;
    for (const entry of this.nodeEntries.values()) {
      const hit = match !== null && match.has(entry.id);
      if (hit) {
        shown++;
      }
      entry.g.classList.toggle('nbpipe-dim', match !== null && !hit);
      entry.g.classList.toggle('nbpipe-match', hit);
    }
    for (const edge of this.edgeEntries) {
      const keep = match === null || (match.has(edge.from) && match.has(edge.to));
      edge.g.classList.toggle('nbpipe-dim', !keep);
    }
    this.matchCount.textContent =
      match === null ? '' : `${shown} of ${this.nodeEntries.size}`;
  }

  private onSearchKey(e: KeyboardEvent): void {
    if (e.key === 'Escape') {
      this.searchInput.value = '';
      this.applyFilter();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      this.applyFilter();
      const first = Array.from(this.nodeEntries.values()).find(entry =>
        entry.g.classList.contains('nbpipe-match')
      );
      if (first) {
        this.selectNodeId(first.id);
        this.scrollToNode(first);
      }
    }
  }

  private scrollToNode(entry: INodeEntry): void {
    const box = this.graphBox.getBoundingClientRect();
    const r = entry.g.getBoundingClientRect();
    this.graphBox.scrollLeft += r.left + r.width / 2 - (box.left + box.width / 2);
    this.graphBox.scrollTop += r.top + r.height / 2 - (box.top + box.height / 2);
  }

  // ------------------------------------------------------ click and panning

  private onGraphClick(e: MouseEvent): void {
    if (this.suppressClick) {
      this.suppressClick = false;
      return;
    }
    const target = e.target as Element | null;
    const g = target?.closest?.('g.node');
    if (!g || !this.svgHost.contains(g)) {
      return;
    }
    const id = g.getAttribute('id');
    if (id !== null) {
      this.selectNodeId(id);
    }
  }

  private selectNodeId(nodeId: string): void {
    const fam = this.shownMode === 'families' ? familyFromNodeId(nodeId) : null;
    this.select(fam !== null ? { kind: 'family', id: fam } : { kind: 'task', id: nodeId });
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0 || e.pointerType === 'touch') {
      return;
    }
    // Leave the scrollbars and the resize handle alone.
    const box = this.graphBox.getBoundingClientRect();
    if (
      e.clientX - box.left >= this.graphBox.clientLeft + this.graphBox.clientWidth ||
      e.clientY - box.top >= this.graphBox.clientTop + this.graphBox.clientHeight
    ) {
      return;
    }
    this.drag = {
      x: e.clientX,
      y: e.clientY,
      left: this.graphBox.scrollLeft,
      top: this.graphBox.scrollTop,
      moved: false,
      pointerId: e.pointerId
    };
  }

  private onPointerMove(e: PointerEvent): void {
    const d = this.drag;
    if (!d || e.pointerId !== d.pointerId) {
      return;
    }
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved) {
      if (Math.abs(dx) + Math.abs(dy) < 5) {
        return;
      }
      d.moved = true;
      this.graphBox.classList.add('nbpipe-panning');
      try {
        this.graphBox.setPointerCapture(d.pointerId);
      } catch {
        // pointer already gone
      }
    }
    this.graphBox.scrollLeft = d.left - dx;
    this.graphBox.scrollTop = d.top - dy;
  }

  private onPointerUp(e: PointerEvent): void {
    const d = this.drag;
    if (!d || e.pointerId !== d.pointerId) {
      return;
    }
    if (d.moved) {
      this.suppressClick = e.type === 'pointerup';
      this.graphBox.classList.remove('nbpipe-panning');
      if (this.graphBox.hasPointerCapture(d.pointerId)) {
        this.graphBox.releasePointerCapture(d.pointerId);
      }
    }
    this.drag = null;
  }

  // --------------------------------------------------------------- detail

  private select(selection: Selection | null): void {
    this.selection = selection;
    this.detailSignature = '';
    this.markSelection();
    this.refreshDetail();
  }

  private markSelection(): void {
    const sel = this.selection;
    let nodeId: string | null = null;
    if (sel?.kind === 'task') {
      nodeId = this.shownMode === 'tasks' ? sel.id : familyNodeId(familyOf(sel.id, this.nodes[sel.id]));
    } else if (sel?.kind === 'family') {
      nodeId = this.shownMode === 'families' ? familyNodeId(sel.id) : null;
    }
    for (const entry of this.nodeEntries.values()) {
      entry.g.classList.toggle('nbpipe-selected', entry.id === nodeId);
    }
  }

  private onDetailClick(e: MouseEvent): void {
    const target = e.target as Element | null;
    const link = target?.closest?.('[data-task-id]');
    const id = link?.getAttribute('data-task-id');
    if (id) {
      this.select({ kind: 'task', id });
    }
  }

  /** Rebuild the detail panel when what it shows has changed. */
  private refreshDetail(): void {
    const sel = this.selection;
    this.updateButtons();
    if (sel === null) {
      this.detail.hidden = true;
      this.detailSignature = '';
      return;
    }
    const nodes = this.nodes;
    const states = this.states;
    let signature: string;
    if (sel.kind === 'task') {
      const state = effectiveState(sel.id, nodes, states);
      signature = JSON.stringify(['task', sel.id, state, nodes[sel.id] ?? null]);
    } else {
      const members = this.familyMembers(sel.id);
      signature = JSON.stringify([
        'family',
        sel.id,
        members.map(id => [id, effectiveState(id, nodes, states)])
      ]);
    }
    this.detail.hidden = false;
    if (signature === this.detailSignature) {
      return;
    }
    this.detailSignature = signature;
    const scroll = this.detailContent.scrollTop;
    if (sel.kind === 'task') {
      this.fillTaskDetail(sel.id, nodes[sel.id], effectiveState(sel.id, nodes, states));
    } else {
      this.fillFamilyDetail(sel.id, nodes, states);
    }
    this.detailContent.scrollTop = scroll;
  }

  private familyMembers(family: string): string[] {
    const shown = this.families.get(family);
    if (shown) {
      return shown;
    }
    const nodes = this.nodes;
    return Object.keys(nodes)
      .filter(id => familyOf(id, nodes[id]) === family)
      .sort();
  }

  private fillTaskDetail(id: string, info: ITaskInfo | undefined, state: string): void {
    this.detailTitle.textContent = info?.label?.split('\n')[0] || id;
    this.detailTitle.title = id;
    const c = this.detailContent;
    c.replaceChildren();

    const table = h('table', 'nbpipe-fields');
    const row = (name: string, value: Node | string): void => {
      const tr = h('tr');
      const th = h('th', undefined, name);
      const td = h('td');
      td.append(value);
      tr.append(th, td);
      table.append(tr);
    };
    row('Task', h('code', 'nbpipe-task-id', id));
    row('Family', familyOf(id, info));
    const stateCell = h('span', `nbpipe-state ${stateClass(state)}`);
    stateCell.append(swatch(state), state.replace(/_/g, ' '));
    row('State', stateCell);
    row('Last duration', formatDuration(info?.duration));
    c.append(table);

    const reasons = Array.isArray(info?.reasons) ? info!.reasons : [];
    if (reasons.length > 0) {
      c.append(h('div', 'nbpipe-section-title', 'Why'));
      const ul = h('ul', 'nbpipe-reasons');
      for (const r of reasons) {
        ul.append(h('li', undefined, String(r)));
      }
      c.append(ul);
    }

    const params = info?.params && typeof info.params === 'object' ? info.params : {};
    const names = Object.keys(params);
    c.append(h('div', 'nbpipe-section-title', 'Parameters'));
    if (names.length === 0) {
      c.append(h('div', 'nbpipe-empty', 'none'));
    } else {
      const pt = h('table', 'nbpipe-params');
      for (const n of names) {
        const tr = h('tr');
        tr.append(h('th', undefined, n), h('td', undefined, formatParam(params[n])));
        pt.append(tr);
      }
      c.append(pt);
    }

    const outputs = Array.isArray(info?.outputs) ? info!.outputs : [];
    c.append(h('div', 'nbpipe-section-title', 'Outputs'));
    if (outputs.length === 0) {
      c.append(h('div', 'nbpipe-empty', 'none'));
    } else {
      const ul = h('ul', 'nbpipe-outputs');
      for (const o of outputs) {
        const li = h('li');
        li.append(h('code', undefined, String(o)));
        ul.append(li);
      }
      c.append(ul);
    }

    if (info?.error || info?.traceback) {
      c.append(h('div', 'nbpipe-section-title nbpipe-error-title', 'Last error'));
      if (info.error) {
        c.append(h('pre', 'nbpipe-error', info.error));
      }
      if (info.traceback) {
        c.append(h('pre', 'nbpipe-traceback', info.traceback));
      }
    }
    if (info === undefined) {
      c.append(h('div', 'nbpipe-empty', 'The kernel sent no details for this task.'));
    }
  }

  private fillFamilyDetail(family: string, nodes: NodeMap, states: StateMap): void {
    const members = this.familyMembers(family);
    this.detailTitle.textContent = family;
    this.detailTitle.title = `task family ${family}`;
    const c = this.detailContent;
    c.replaceChildren();
    const counts = countStates(members, nodes, states);
    c.append(
      h('div', 'nbpipe-family-summary', `${members.length} task${members.length === 1 ? '' : 's'}: ${formatCounts(counts)}`)
    );
    c.append(h('div', 'nbpipe-section-title', 'Tasks (select one to act on it)'));
    const ul = h('ul', 'nbpipe-members');
    for (const id of members.slice(0, MAX_FAMILY_MEMBERS_LISTED)) {
      const li = h('li');
      const link = h('button', 'nbpipe-member');
      link.type = 'button';
      link.dataset.taskId = id;
      const state = effectiveState(id, nodes, states);
      link.title = `${id}: ${state.replace(/_/g, ' ')}`;
      link.append(swatch(state), h('span', undefined, id));
      li.append(link);
      ul.append(li);
    }
    c.append(ul);
    if (members.length > MAX_FAMILY_MEMBERS_LISTED) {
      c.append(
        h('div', 'nbpipe-empty', `… and ${members.length - MAX_FAMILY_MEMBERS_LISTED} more (use the filter)`)
      );
    }
  }

  // -------------------------------------------------------------- actions

  private updateButtons(): void {
    const running = this.running;
    const task = this.selection?.kind === 'task';
    for (const [b, action] of this.actionButtons) {
      switch (action) {
        case 'run':
        case 'invalidate':
        case 'invalidate_downstream':
          b.disabled = !task || running;
          break;
        case 'run_all':
          b.disabled = running;
          break;
        case 'stop':
          b.disabled = !running;
          break;
      }
    }
  }

  private sendAction(action: Action): void {
    this.clearMessage();
    if (action === 'run_all' || action === 'stop') {
      this.model.send({ action });
      return;
    }
    const sel = this.selection;
    if (sel?.kind !== 'task') {
      return;
    }
    this.model.send({ action, task_id: sel.id });
  }

  private onRunningChanged(): void {
    const running = this.running;
    this.el.classList.toggle('nbpipe-is-running', running);
    this.runningBadge.hidden = !running;
    this.updateButtons();
  }

  private renderSummary(): void {
    const v: unknown = this.model.get('summary_html');
    const html = typeof v === 'string' ? v : '';
    // Produced by the kernel from the run record; trusted like any widget output.
    this.summary.innerHTML = html;
    this.summary.hidden = html.trim() === '';
  }

  // ------------------------------------------------------------- messages

  private onCustomMessage(content: unknown): void {
    if (!content || typeof content !== 'object') {
      return;
    }
    const msg = content as { [k: string]: unknown };
    if (msg.event === 'refused') {
      const task = typeof msg.task_id === 'string' && msg.task_id ? ` ${msg.task_id}` : '';
      const reason = typeof msg.reason === 'string' ? msg.reason : 'no reason given';
      this.showMessage(`Refused${task}: ${reason}`, 'warning');
    } else if (msg.event === 'error') {
      const text = typeof msg.message === 'string' ? msg.message : 'unknown error';
      this.showMessage(`Error: ${text}`, 'error');
    }
  }

  private showMessage(text: string, kind: 'warning' | 'error' | 'info'): void {
    this.messageText.textContent = text;
    this.messageLine.dataset.kind = kind;
    this.messageLine.title = text;
    this.messageLine.hidden = false;
  }

  private clearMessage(): void {
    this.messageText.textContent = '';
    this.messageLine.hidden = true;
  }
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim();
}
