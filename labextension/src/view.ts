/**
 * DagView: builds the pieces of the DAG view once (toolbar, message line,
 * legend, graph, detail panel, summary) into the element anywidget gives it,
 * and wires them to the model's traits and to each other.
 *
 * Layout runs only when the DOT (or, collapsed, the family structure)
 * changes; a change of `states` recolours the existing SVG in place.
 */
import {
  Edge,
  ITaskInfo,
  NodeMap,
  StateMap,
  countStates,
  familyFromNodeId,
  familyOf,
  mergeDetails
} from './graph.js';
import { LayoutService } from './layout-client.js';
import { Action, ActionButtons, actionMessage } from './actions.js';
import { GraphCanvas, ShownMode } from './canvas.js';
import { IGraphData, planLayout, startsCollapsed, unchangedFamilies } from './collapse.js';
import { DomListeners, checkbox, errorText, h } from './dom.js';
import { Legend } from './legend.js';
import { IStatesDelta, isStatesDelta, takeStatesDelta } from './live-states.js';
import { MessageLine } from './messages.js';
import { DetailPanel, Selection, selectedNodeId } from './panel.js';
import { PanZoom } from './panzoom.js';
import { SearchBox } from './search.js';
import { MODULE_VERSION } from './version.js';

/**
 * The part of anywidget's model interface the view uses (the `model` of
 * `render({model, el})`): traits by name, their `change:<name>` events,
 * `msg:custom` for the kernel's messages, and `send` for the view's.
 */
export interface IDagModel {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event?: string | null, callback?: ((...args: any[]) => void) | null): void;
  send(content: object): void;
}

/** What a replacement view takes over from the previous view of the same model (never synced). */
export interface IViewState {
  collapsed: boolean;
  selection: Selection | null;
  /** Collapsed view: the families shown task by task. */
  expanded: string[];
}

/** Kept per model by the caller, so that a view replacing another carries on where it was. */
export interface IViewMemory {
  viewState?: IViewState;
}

export interface IDagViewOptions {
  model: IDagModel;
  el: HTMLElement;
  /** The page's layout service (from the kernel's shared layout-engine model); rejected when it cannot be had. */
  layout: Promise<LayoutService>;
  memory: IViewMemory;
}

/** A new graph wider than the box is shown zoomed out to its width, but no smaller than this. */
const FIRST_LOOK_MIN_ZOOM = 0.45;

export class DagView {
  readonly model: IDagModel;
  readonly el: HTMLElement;
  private readonly layout: Promise<LayoutService>;
  private readonly memory: IViewMemory;
  /** Model events this view listens to, for remove(). */
  private readonly modelListeners: [string, (...args: any[]) => void][] = [];
  private listeners = new DomListeners();
  /** Bumped by every layout (and remove()): a late layout result is dropped. */
  private generation = 0;
  /** DOT source or collapsed key of the SVG on screen (or being laid out). */
  private layoutKey = '';
  private selection: Selection | null = null;
  /** Collapsed view: the families shown task by task. */
  private expanded = new Set<string>();
  /** The last (nodes, details) pair read and the map merged from them. */
  private mergedFrom: [NodeMap, object, NodeMap] | null = null;

  // Built by render().
  private canvas!: GraphCanvas;
  private panZoom!: PanZoom;
  private search!: SearchBox;
  private legend!: Legend;
  private messages!: MessageLine;
  private panel!: DetailPanel;
  private buttons!: ActionButtons;
  private collapseToggle!: HTMLInputElement;
  private runningBadge!: HTMLSpanElement;
  private summary!: HTMLDivElement;

  constructor(options: IDagViewOptions) {
    this.model = options.model;
    this.el = options.el;
    this.layout = options.layout;
    this.memory = options.memory;
  }

  render(): void {
    this.el.classList.add('nbpipe-dag');
    this.el.dataset.nbpipeVersion = MODULE_VERSION;
    this.buildDom();

    this.listen('change:dot', () => this.onDotChanged());
    this.listen('change:nodes', () => this.onStructureChanged());
    this.listen('change:edges', () => this.onStructureChanged());
    this.listen('change:states', () => this.onStatesChanged());
    this.listen('change:details', () => this.onStatesChanged());
    this.listen('change:summary_html', () => this.renderSummary());
    this.listen('change:running', () => this.onRunningChanged());
    this.listen('msg:custom', (content: unknown) => {
      if (takeStatesDelta(this.model, content)) {
        this.patchMerged(isStatesDelta(content) ? content.details : undefined);
        this.onStatesChanged();
      } else if (!this.panel.onKernelMessage(content)) {
        this.messages.onKernelMessage(content);
      }
    });

    const taskCount = Object.keys(this.nodes).length;
    const kept = this.memory.viewState;
    if (kept !== undefined) {
      // The kernel replaced this output (a run or an action updated the static forms): carry on where the
      // previous view of this model was.
      this.collapseToggle.checked = kept.collapsed;
      this.selection = kept.selection;
      this.expanded = new Set(kept.expanded ?? []);
    } else if (startsCollapsed(taskCount)) {
      this.collapseToggle.checked = true;
      this.messages.show(
        `${taskCount} tasks: shown collapsed by family. Untick "Collapse by family" to lay out every task.`,
        'info'
      );
    }
    this.renderSummary();
    this.onRunningChanged();
    void this.relayout();
  }

  remove(): void {
    this.generation += 1;
    for (const [event, callback] of this.modelListeners.splice(0)) {
      this.model.off(event, callback);
    }
    this.listeners.release();
    this.search?.dispose();
    this.canvas?.clear();
  }

  private listen(event: string, callback: (...args: any[]) => void): void {
    this.model.on(event, callback);
    this.modelListeners.push([event, callback]);
  }

  // ---------------------------------------------------------------- model

  /** The `nodes` trait with the live `details` laid over it (cached per pair of trait values). */
  private get nodes(): NodeMap {
    const v: unknown = this.model.get('nodes');
    const d: unknown = this.model.get('details');
    const nodes = v && typeof v === 'object' ? (v as NodeMap) : {};
    const details = d && typeof d === 'object' ? (d as { [id: string]: Partial<ITaskInfo> }) : {};
    if (this.mergedFrom?.[0] !== nodes || this.mergedFrom[1] !== details) {
      this.mergedFrom = [nodes, details, mergeDetails(nodes, details)];
    }
    return this.mergedFrom[2];
  }

  /** `details` changed in place (a live delta): update the merged map for those tasks only. */
  private patchMerged(details: IStatesDelta['details']): void {
    const m = this.mergedFrom;
    if (!details || m === null) {
      return;
    }
    const [nodes, allDetails, merged] = m;
    if (merged === nodes) {
      this.mergedFrom = null; // there were no details: merge afresh, once
      return;
    }
    for (const id of Object.keys(details)) {
      if (id in nodes) {
        merged[id] = { ...nodes[id], ...(allDetails as { [id: string]: Partial<ITaskInfo> })[id] };
      }
    }
  }

  private get states(): StateMap {
    const v: unknown = this.model.get('states');
    return v && typeof v === 'object' ? (v as StateMap) : {};
  }

  private get running(): boolean {
    return this.model.get('running') === true;
  }

  private graphData(): IGraphData {
    const dot: unknown = this.model.get('dot');
    const edges: unknown = this.model.get('edges');
    return {
      dot: typeof dot === 'string' ? dot : '',
      nodes: this.nodes,
      edges: Array.isArray(edges) ? (edges as Edge[]) : [],
      states: this.states
    };
  }

  // ------------------------------------------------------------------ DOM

  private buildDom(): void {
    const on = this.listeners;
    this.canvas = new GraphCanvas();
    this.panZoom = new PanZoom(this.canvas.box, on);
    on.bind<MouseEvent>(this.canvas.box, 'click', e => this.onGraphClick(e));
    on.bind<MouseEvent>(this.canvas.box, 'dblclick', e => {
      const family = familyFromNodeId(this.canvas.nodeIdAt(e.target) ?? '');
      if (family !== null) {
        this.toggleFamily(family);
      }
    });
    this.search = new SearchBox(on, this.canvas, () => this.nodes, entry => {
      this.selectNodeId(entry.id);
      this.panZoom.centre(entry.g);
    });
    this.messages = new MessageLine(on);
    this.legend = new Legend();
    this.buttons = new ActionButtons(on, action => this.sendAction(action));
    this.panel = new DetailPanel(
      on,
      () => this.select(null),
      id => this.select({ kind: 'task', id }),
      family => this.toggleFamily(family),
      msg => this.model.send(msg)
    );

    const collapse = checkbox('Collapse by family', 'Show one node per task family, with counts per state');
    this.collapseToggle = collapse.input;
    on.bind(collapse.input, 'change', () => {
      this.messages.clear(); // the "shown collapsed" notice no longer holds either way
      this.keepViewState();
      void this.relayout();
    });
    const fit = checkbox('Fit width', 'Scale the graph to the width of the widget');
    on.bind(fit.input, 'change', () => this.panZoom.setFitWidth(fit.input.checked));
    this.runningBadge = h('span', 'nbpipe-running-badge', 'running…');
    const zoomButton = (text: string, title: string, act: () => void): HTMLButtonElement => {
      const b = h('button', 'nbpipe-zoom', text);
      b.type = 'button';
      b.title = title;
      on.bind(b, 'click', act);
      return b;
    };
    const zoom = h('span', 'nbpipe-zoom-group');
    zoom.append(
      zoomButton('−', 'Zoom out (or Ctrl + wheel)', () => this.panZoom.zoomBy(1 / 1.25)),
      zoomButton('+', 'Zoom in (or Ctrl + wheel)', () => this.panZoom.zoomBy(1.25)),
      zoomButton('Fit', 'Show the whole graph', () => {
        fit.input.checked = false;
        this.panZoom.fitToView();
      })
    );

    const b = this.buttons;
    const toolbar = h('div', 'nbpipe-toolbar');
    toolbar.append(
      this.search.input,
      this.search.count,
      collapse.label,
      fit.label,
      zoom,
      h('span', 'nbpipe-spacer'),
      this.runningBadge,
      b.button('Run all', 'run_all', 'Run every task of the pipeline'),
      b.button('Stop', 'stop', 'Stop the current run')
    );
    this.panel.actions.append(
      b.button('Run', 'run', 'Run this task and what it needs'),
      b.button('Invalidate', 'invalidate', "Invalidate this task's outputs"),
      b.button(
        'Invalidate downstream',
        'invalidate_downstream',
        'Invalidate this task and every task that depends on it'
      ),
      b.button('Run all', 'run_all', 'Run every task of the pipeline'),
      b.button('Stop', 'stop', 'Stop the current run')
    );

    const body = h('div', 'nbpipe-body');
    body.append(this.canvas.box, this.panel.el);
    this.summary = h('div', 'nbpipe-summary');
    this.el.append(toolbar, this.messages.el, this.legend.el, body, this.summary);
  }

  /** Remember what the person chose, on the model, for a view that replaces this one. */
  private keepViewState(): void {
    this.memory.viewState = {
      collapsed: this.collapseToggle.checked,
      selection: this.selection,
      expanded: [...this.expanded]
    };
  }

  // --------------------------------------------------------------- layout

  private onDotChanged(): void {
    if (this.collapseToggle.checked) {
      this.onStructureChanged();
    } else {
      void this.relayout();
    }
  }

  /** `nodes` or `edges` changed: re-layout only if the collapsed shape changed. */
  private onStructureChanged(): void {
    if (this.collapseToggle.checked) {
      const families = unchangedFamilies(this.graphData(), this.canvas.mode, this.layoutKey, this.expanded);
      if (families === null) {
        void this.relayout();
        return;
      }
      this.canvas.families = families;
    }
    this.recolour();
    this.search.apply();
    this.refreshDetail();
  }

  private onStatesChanged(): void {
    this.recolour();
    this.refreshDetail();
  }

  /** Lay out the current graph (tasks or families) and install the SVG. */
  private async relayout(): Promise<void> {
    const gen = ++this.generation;
    const plan = planLayout(this.collapseToggle.checked, this.graphData(), this.expanded);
    this.layoutKey = plan.key;
    if (!plan.dot.trim()) {
      void this.installSvg('', plan.mode, plan.families);
      this.canvas.setStatus(plan.mode === 'families' ? 'No task information to collapse yet.' : 'No graph yet.');
      return;
    }
    this.canvas.setStatus('Laying out…');
    let svg: string;
    let layout: LayoutService;
    try {
      layout = await this.layout;
      svg = await layout.layoutSvg(plan.dot, plan.key);
    } catch (err) {
      if (gen === this.generation) {
        this.canvas.setStatus('');
        this.messages.show(`Could not lay out the graph: ${errorText(err)}`, 'error');
      }
      return;
    }
    if (gen !== this.generation) {
      return; // a newer layout (or remove()) superseded this one
    }
    this.canvas.box.dataset.layoutEngine = layout.engine ?? '';
    this.canvas.setStatus('');
    await this.installSvg(svg, plan.mode, plan.families);
  }

  /** Collapsed view: show a family task by task, or as one node again. */
  private toggleFamily(family: string): void {
    if (!this.expanded.delete(family)) {
      this.expanded.add(family);
    }
    this.keepViewState();
    this.panel.invalidate();
    this.refreshDetail();
    if (this.collapseToggle.checked) {
      void this.relayout();
    }
  }

  /** Put the SVG on screen in pieces (see GraphCanvas.draw), painting nodes as they come. */
  private async installSvg(svg: string, mode: ShownMode, families: Map<string, string[]>): Promise<void> {
    const drawn = this.canvas.draw(svg, mode, families, entries => this.canvas.paint(this.nodes, this.states, entries));
    // The frame (the <svg> with its size) is in at once: size the view now, not after the last piece.
    this.panZoom.attach(this.canvas.svg);
    this.panZoom.fitWidthIfWider(FIRST_LOOK_MIN_ZOOM);
    this.markSelection();
    if (!(await drawn)) {
      return; // superseded by a newer layout
    }
    this.recolour();
    this.search.apply();
    this.markSelection();
    this.refreshDetail();
  }

  /** Recolour nodes and update tooltips and the legend, in place. */
  private recolour(): void {
    const nodes = this.nodes;
    const states = this.states;
    this.canvas.paint(nodes, states);
    this.legend.update(countStates(this.canvas.countedTaskIds(nodes), nodes, states));
  }

  // ------------------------------------------------------------ selection

  private onGraphClick(e: MouseEvent): void {
    if (this.panZoom.consumeClick()) {
      return;
    }
    const id = this.canvas.nodeIdAt(e.target);
    if (id !== null) {
      this.selectNodeId(id);
    }
  }

  private selectNodeId(nodeId: string): void {
    const fam = this.canvas.mode === 'families' ? familyFromNodeId(nodeId) : null;
    this.select(fam !== null ? { kind: 'family', id: fam } : { kind: 'task', id: nodeId });
  }

  private select(selection: Selection | null): void {
    this.selection = selection;
    this.keepViewState();
    this.panel.invalidate();
    this.markSelection();
    this.refreshDetail();
  }

  private markSelection(): void {
    const sel = this.selection;
    const id =
      sel?.kind === 'task' && this.canvas.nodes.has(sel.id)
        ? sel.id // a task of an expanded family
        : selectedNodeId(sel, this.canvas.mode, this.nodes);
    this.canvas.markSelected(id);
    const g = id === null ? undefined : this.canvas.nodes.get(id)?.g;
    if (g) {
      // The panel opening beside the graph narrows the box: once it has, keep the node in view.
      window.requestAnimationFrame(() => this.panZoom.ensureVisible(g));
    }
  }

  /** Update the buttons and the detail panel for the selection and the traits. */
  private refreshDetail(): void {
    this.updateButtons();
    const nodes = this.nodes;
    const collapsed = this.canvas.mode === 'families';
    this.panel.refresh(this.selection, {
      nodes,
      states: this.states,
      isExpanded: collapsed ? family => this.expanded.has(family) : null,
      familyMembers: family =>
        this.canvas.families.get(family) ??
        Object.keys(nodes)
          .filter(id => familyOf(id, nodes[id]) === family)
          .sort()
    });
  }

  // -------------------------------------------------------------- actions

  private updateButtons(): void {
    this.buttons.update(this.running, this.selection?.kind === 'task');
  }

  private sendAction(action: Action): void {
    this.messages.clear();
    const sel = this.selection;
    const msg = actionMessage(action, sel?.kind === 'task' ? sel.id : null);
    if (msg !== null) {
      this.model.send(msg);
    }
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
}
