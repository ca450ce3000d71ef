/**
 * The detail panel: what is selected (a task or, collapsed, a family), its
 * fields, reasons, parameters, outputs (where, size, modified time, and a
 * preview made by the kernel on request), the log lines of its last attempt
 * (sent with the outputs) and last error, or the family's members; and the
 * action buttons under it.
 *
 * Kernel text is only ever put in the page as text (`textContent`), tables
 * are built with DOM calls, and images only as `data:` URLs of PNG, JPEG or
 * SVG (shown by `<img>`, where an SVG runs no script).
 */
import {
  ITaskInfo,
  NodeMap,
  StateCounts,
  StateMap,
  countStates,
  effectiveState,
  familyNodeId,
  familyOf,
  formatCounts,
  formatDuration,
  formatParam,
  stateLabel,
  stateMeaning
} from './graph.js';
import { ShownMode } from './canvas.js';
import { DomListeners, h, stateClass, swatch } from './dom.js';
import { OutputMessage, outputsMessage, previewMessage } from './actions.js';
import { ILastLog, IOutputInfo, Preview, parseOutputsReply, parsePreviewReply } from './messages.js';

export type Selection = { kind: 'task'; id: string } | { kind: 'family'; id: string };

/** Tasks listed at most in a family's detail panel. */
const MAX_FAMILY_MEMBERS_LISTED = 300;

/** The node on screen that shows the selection, if any. */
export function selectedNodeId(sel: Selection | null, mode: ShownMode, nodes: NodeMap): string | null {
  if (sel?.kind === 'task') {
    return mode === 'tasks' ? sel.id : familyNodeId(familyOf(sel.id, nodes[sel.id]));
  }
  if (sel?.kind === 'family') {
    return mode === 'families' ? familyNodeId(sel.id) : null;
  }
  return null;
}

/** What the panel shows, read fresh on every refresh. */
export interface IPanelData {
  nodes: NodeMap;
  states: StateMap;
  familyMembers(family: string): string[];
  /** Collapsed view: whether a family is shown task by task; null when not collapsed. */
  isExpanded: ((family: string) => boolean) | null;
}

export class DetailPanel {
  readonly el: HTMLDivElement;
  /** Holds the action buttons (filled by the view). */
  readonly actions: HTMLDivElement;
  private readonly title: HTMLSpanElement;
  private readonly content: HTMLDivElement;
  /** Collapsed view: expands (or collapses again) the selected family. */
  private readonly familyToggle: HTMLButtonElement;
  /** What the content was built from; unchanged means nothing to rebuild. */
  private signature = '';
  /** The family on show: its members and their links, updated in place as states change. */
  private shownFamily: IShownFamily | null = null;
  /** The task on show, its output rows (meta line and preview box per output) and where its log goes. */
  private shownOutputs: { taskId: string; rows: IOutputRow[]; log: HTMLDivElement } | null = null;

  constructor(
    listeners: DomListeners,
    onClose: () => void,
    onPickTask: (taskId: string) => void,
    onToggleFamily: (family: string) => void,
    private readonly send: (msg: OutputMessage) => void = () => undefined
  ) {
    this.el = h('div', 'nbpipe-detail');
    this.el.hidden = true;
    const header = h('div', 'nbpipe-detail-header');
    this.title = h('span', 'nbpipe-detail-title');
    const close = h('button', 'nbpipe-detail-close', '×');
    close.type = 'button';
    close.title = 'Close';
    listeners.bind(close, 'click', () => onClose());
    header.append(this.title, close);
    this.content = h('div', 'nbpipe-detail-content');
    // Member links of a family are rebuilt with the content: one delegated listener.
    listeners.bind<MouseEvent>(this.content, 'click', e => {
      const preview = (e.target as Element | null)?.closest?.('[data-preview-index]');
      if (preview) {
        this.askPreview(Number(preview.getAttribute('data-preview-index')));
        return;
      }
      const link = (e.target as Element | null)?.closest?.('[data-task-id]');
      const id = link?.getAttribute('data-task-id');
      if (id) {
        onPickTask(id);
      }
    });
    this.actions = h('div', 'nbpipe-actions');
    this.familyToggle = h('button', 'nbpipe-family-toggle');
    this.familyToggle.type = 'button';
    this.familyToggle.hidden = true;
    listeners.bind(this.familyToggle, 'click', () => {
      const family = this.familyToggle.dataset.family;
      if (family !== undefined) {
        onToggleFamily(family);
      }
    });
    this.el.append(header, this.familyToggle, this.content, this.actions);
  }

  /** Rebuild on the next refresh even if nothing seems to have changed. */
  invalidate(): void {
    this.signature = '';
  }

  /** Show `sel` (hide for null), rebuilding only when what it shows has changed. */
  refresh(sel: Selection | null, data: IPanelData): void {
    if (sel === null) {
      this.el.hidden = true;
      this.signature = '';
      this.shownOutputs = null;
      return;
    }
    const { nodes, states } = data;
    this.showFamilyToggle(sel, data);
    this.el.hidden = false;
    if (sel.kind === 'family') {
      this.shownOutputs = null;
      this.refreshFamily(sel.id, data);
      return;
    }
    this.shownFamily = null;
    const signature = JSON.stringify(['task', sel.id, effectiveState(sel.id, nodes, states), nodes[sel.id] ?? null]);
    if (signature === this.signature) {
      return;
    }
    this.signature = signature;
    const scroll = this.content.scrollTop;
    this.fillTask(sel.id, nodes[sel.id], effectiveState(sel.id, nodes, states));
    this.content.scrollTop = scroll;
  }

  /**
   * A family: built once, then only its summary line and the swatches of
   * members whose state changed are updated (a run updates the selected
   * family ten times a second; rebuilding its list each time, and keeping the
   * scroll position, made the browser lay out the page each time).
   */
  private refreshFamily(family: string, data: IPanelData): void {
    const members = data.familyMembers(family);
    const shown = this.shownFamily;
    if (shown === null || shown.family !== family || shown.members !== members) {
      this.signature = '';
      this.shownFamily = this.fillFamily(family, members, data.nodes, data.states);
      return;
    }
    const counts = countStates(members, data.nodes, data.states);
    const line = familySummary(members.length, counts);
    if (shown.summary.textContent !== line) {
      shown.summary.textContent = line;
    }
    for (const [id, link] of shown.links) {
      const state = effectiveState(id, data.nodes, data.states);
      if (link.dataset.state !== state) {
        link.dataset.state = state;
        link.title = `${id}: ${stateLabel(state)}`;
        link.firstElementChild?.replaceWith(swatch(state));
      }
    }
  }

  private fillTask(id: string, info: ITaskInfo | undefined, state: string): void {
    this.title.textContent = info?.label?.split('\n')[0] || id;
    this.title.title = id;
    const c = this.content;
    c.replaceChildren();
    const table = h('table', 'nbpipe-fields');
    const row = (name: string, ...value: (Node | string)[]): void => {
      const tr = h('tr');
      const td = h('td');
      td.append(...value);
      tr.append(h('th', undefined, name), td);
      table.append(tr);
    };
    row('Task', h('code', 'nbpipe-task-id', id));
    row('Family', familyOf(id, info));
    const stateCell = h('span', `nbpipe-state ${stateClass(state)}`);
    stateCell.append(swatch(state), stateLabel(state));
    const meaning = stateMeaning(state);
    stateCell.title = meaning;
    row('State', stateCell, ...(meaning ? [h('div', 'nbpipe-meaning', meaning)] : []));
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
    const rows: IOutputRow[] = [];
    if (outputs.length === 0) {
      c.append(h('div', 'nbpipe-empty', 'none'));
    } else {
      const ul = h('ul', 'nbpipe-outputs');
      outputs.forEach((o, index) => {
        const li = h('li', 'nbpipe-output');
        const line = h('div', 'nbpipe-output-line');
        const meta = h('span', 'nbpipe-output-meta');
        const button = h('button', 'nbpipe-button nbpipe-preview-button', 'Preview');
        button.type = 'button';
        button.title = 'Show the start of this output (made by the kernel, size-capped)';
        button.dataset.previewIndex = String(index);
        line.append(h('code', undefined, String(o)), meta, button);
        const box = h('div', 'nbpipe-preview');
        box.hidden = true;
        li.append(line, box);
        ul.append(li);
        rows.push({ meta, box, button });
      });
      c.append(ul);
    }
    // The kernel's answer about the outputs carries the last attempt's log too: asked for every task.
    const log = h('div', 'nbpipe-log');
    log.hidden = true;
    c.append(log);
    this.shownOutputs = { taskId: id, rows, log };
    this.send(outputsMessage(id));

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

  /**
   * A kernel message about the outputs of the task on show (`outputs`, `preview`): shown, and true.
   * False for any other message (the view passes it on); answers about another task are dropped.
   */
  onKernelMessage(content: unknown): boolean {
    const listing = parseOutputsReply(content);
    if (listing !== null) {
      const shown = this.shownOutputs;
      if (shown?.taskId === listing.taskId) {
        shown.rows.forEach((row, i) => {
          const o = listing.outputs[i];
          if (o !== undefined) {
            row.meta.textContent = outputMeta(o);
          }
        });
        shown.log.replaceChildren(...renderLog(listing.log));
        shown.log.hidden = listing.log === null;
      }
      return true;
    }
    const reply = parsePreviewReply(content);
    if (reply !== null) {
      const row = this.shownOutputs?.taskId === reply.taskId ? this.shownOutputs.rows[reply.index] : undefined;
      if (row !== undefined) {
        row.meta.textContent = outputMeta(reply.preview);
        row.box.replaceChildren(...renderPreview(reply.preview));
        row.box.hidden = false;
        row.button.disabled = false;
        row.button.textContent = 'Refresh preview';
      }
      return true;
    }
    return false;
  }

  private askPreview(index: number): void {
    const shown = this.shownOutputs;
    const row = shown?.rows[index];
    if (!shown || !row) {
      return;
    }
    row.button.disabled = true;
    row.box.hidden = false;
    row.box.replaceChildren(h('div', 'nbpipe-empty', 'Asking the kernel…'));
    this.send(previewMessage(shown.taskId, index));
  }

  /** Collapsed view: "Expand family" for a family, "Collapse family" for a task of an expanded one. */
  private showFamilyToggle(sel: Selection, data: IPanelData): void {
    const family = sel.kind === 'family' ? sel.id : familyOf(sel.id, data.nodes[sel.id]);
    const expanded = data.isExpanded?.(family) ?? false;
    const b = this.familyToggle;
    b.hidden = data.isExpanded === null || (sel.kind === 'task' && !expanded);
    b.dataset.family = family;
    b.textContent = expanded ? `Collapse family ${family}` : `Expand family ${family}`;
    b.title = expanded
      ? `Show the tasks of ${family} as one node again`
      : `Show each task of ${family} as its own node (double-click a family node does the same)`;
  }

  private fillFamily(family: string, members: string[], nodes: NodeMap, states: StateMap): IShownFamily {
    this.title.textContent = family;
    this.title.title = `task family ${family}`;
    const c = this.content;
    c.replaceChildren();
    const summary = h('div', 'nbpipe-family-summary', familySummary(members.length, countStates(members, nodes, states)));
    c.append(summary);
    c.append(h('div', 'nbpipe-section-title', 'Tasks (select one to act on it)'));
    const ul = h('ul', 'nbpipe-members');
    const links = new Map<string, HTMLButtonElement>();
    for (const id of members.slice(0, MAX_FAMILY_MEMBERS_LISTED)) {
      const li = h('li');
      const link = h('button', 'nbpipe-member');
      link.type = 'button';
      link.dataset.taskId = id;
      const state = effectiveState(id, nodes, states);
      link.dataset.state = state;
      link.title = `${id}: ${stateLabel(state)}`;
      link.append(swatch(state), h('span', undefined, id));
      li.append(link);
      ul.append(li);
      links.set(id, link);
    }
    c.append(ul);
    const n = members.length;
    if (n > MAX_FAMILY_MEMBERS_LISTED) {
      c.append(h('div', 'nbpipe-empty', `… and ${n - MAX_FAMILY_MEMBERS_LISTED} more (use the filter)`));
    }
    c.scrollTop = 0;
    return { family, members, summary, links };
  }
}

/** The family the panel shows (see DetailPanel.refreshFamily). */
interface IShownFamily {
  family: string;
  /** The member list it was built from (the view's, replaced when the family changes). */
  members: string[];
  summary: HTMLElement;
  links: Map<string, HTMLButtonElement>;
}

function familySummary(n: number, counts: StateCounts): string {
  return `${n} task${n === 1 ? '' : 's'}: ${formatCounts(counts)}`;
}

/** One output in the panel: its size/modified line, preview box and Preview button. */
interface IOutputRow {
  meta: HTMLSpanElement;
  box: HTMLDivElement;
  button: HTMLButtonElement;
}

/** "12.3 kB, modified 30/11/2026, 05:10:00", "not there yet", or "" when nothing is known. */
export function outputMeta(o: IOutputInfo): string {
  if (o.exists === false) {
    return 'not there yet';
  }
  const parts: string[] = [];
  if (o.size !== null) {
    parts.push(formatBytes(o.size));
  }
  if (o.mtime !== null) {
    parts.push(`modified ${new Date(o.mtime * 1000).toLocaleString()}`);
  }
  return parts.join(', ');
}

export function formatBytes(n: number): string {
  if (n < 1000) {
    return `${n} B`;
  }
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/**
 * The elements that show the log of a task's last attempt (none for null): a
 * heading that says how the attempt ended, and the lines as one monospace
 * block that wraps at spaces and scrolls (style/base.css); kernel text as text only.
 */
export function renderLog(log: ILastLog | null): HTMLElement[] {
  if (log === null) {
    return [];
  }
  const title = log.status ? `Log of the last attempt (${log.status})` : 'Log of the last attempt';
  const out: HTMLElement[] = [h('div', 'nbpipe-section-title nbpipe-log-title', title)];
  if (log.lines.length === 0) {
    out.push(h('div', 'nbpipe-empty', 'no lines'));
  } else {
    out.push(h('pre', 'nbpipe-log-lines', log.lines.join('\n')));
  }
  if (log.truncated) {
    out.push(h('div', 'nbpipe-preview-note', 'not every line was kept'));
  }
  return out;
}

/** The elements that show a preview: built with DOM calls, kernel text as text only. */
export function renderPreview(p: Preview): HTMLElement[] {
  const out: HTMLElement[] = [];
  switch (p.kind) {
    case 'table': {
      const table = h('table', 'nbpipe-preview-table');
      const head = h('tr');
      for (const c of p.columns) {
        head.append(h('th', undefined, c));
      }
      const thead = h('thead');
      thead.append(head);
      const tbody = h('tbody');
      for (const r of p.rows) {
        const tr = h('tr');
        for (const c of r) {
          tr.append(h('td', undefined, c));
        }
        tbody.append(tr);
      }
      table.append(thead, tbody);
      const wrap = h('div', 'nbpipe-preview-scroll');
      wrap.append(table);
      out.push(wrap);
      break;
    }
    case 'text':
      out.push(h('pre', 'nbpipe-preview-text', p.text));
      break;
    case 'image': {
      const img = h('img', 'nbpipe-preview-image');
      img.alt = `preview of ${p.path}`;
      img.src = `data:${p.mime};base64,${p.data}`;
      out.push(img);
      break;
    }
    case 'message':
      out.push(h('div', 'nbpipe-preview-message', p.text));
      break;
  }
  const notes = [p.note, p.truncated ? 'only the start is shown' : ''].filter(Boolean);
  if (notes.length > 0) {
    out.push(h('div', 'nbpipe-preview-note', notes.join('; ')));
  }
  return out;
}
