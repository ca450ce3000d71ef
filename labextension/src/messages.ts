/**
 * The message line: what the kernel reports back (`{event: "refused",
 * task_id, reason}`, `{event: "error", message}`) and the view's own notices;
 * and the checked forms of the kernel's answers about outputs (`outputs`,
 * `preview`), which the detail panel shows.
 */
import { DomListeners, h } from './dom.js';

export type MessageKind = 'warning' | 'error' | 'info';

export class MessageLine {
  readonly el: HTMLDivElement;
  private readonly text: HTMLSpanElement;

  constructor(listeners: DomListeners) {
    this.el = h('div', 'nbpipe-message');
    this.el.hidden = true;
    this.text = h('span', 'nbpipe-message-text');
    const dismiss = h('button', 'nbpipe-message-dismiss', '×');
    dismiss.type = 'button';
    dismiss.title = 'Dismiss';
    listeners.bind(dismiss, 'click', () => this.clear());
    this.el.append(this.text, dismiss);
  }

  show(text: string, kind: MessageKind): void {
    this.text.textContent = text;
    this.el.dataset.kind = kind;
    this.el.title = text;
    this.el.hidden = false;
  }

  clear(): void {
    this.text.textContent = '';
    this.el.hidden = true;
  }

  /** A custom message from the kernel; events this view does not know are ignored. */
  onKernelMessage(content: unknown): void {
    if (!content || typeof content !== 'object') {
      return;
    }
    const msg = content as { [k: string]: unknown };
    if (msg.event === 'refused') {
      const task = typeof msg.task_id === 'string' && msg.task_id ? ` ${msg.task_id}` : '';
      const reason = typeof msg.reason === 'string' ? msg.reason : 'no reason given';
      this.show(`Refused${task}: ${reason}`, 'warning');
    } else if (msg.event === 'error') {
      const text = typeof msg.message === 'string' ? msg.message : 'unknown error';
      this.show(`Error: ${text}`, 'error');
    }
  }
}

/** Where one output is (`size` in bytes and `mtime` in seconds since the epoch, null when unknown). */
export interface IOutputInfo {
  path: string;
  size: number | null;
  mtime: number | null;
  exists: boolean | null;
}

/** A preview the kernel made (nbpipe/notebook/previews.py), checked field by field. */
export type Preview = IOutputInfo & { truncated: boolean; note: string } & (
    | { kind: 'table'; columns: string[]; rows: string[][] }
    | { kind: 'text'; text: string }
    | { kind: 'image'; mime: ImageMime; data: string }
    | { kind: 'message'; text: string }
  );

/** The image types a preview may show; anything else is not put in a data: URL. */
export const IMAGE_MIMES = ['image/png', 'image/jpeg', 'image/svg+xml'] as const;
export type ImageMime = (typeof IMAGE_MIMES)[number];

type Dict = { [k: string]: unknown };

function isDict(v: unknown): v is Dict {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every(x => typeof x === 'string');
}

function outputInfo(v: Dict): IOutputInfo {
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  return {
    path: typeof v.path === 'string' ? v.path : '',
    size: num(v.size),
    mtime: num(v.mtime),
    exists: typeof v.exists === 'boolean' ? v.exists : null
  };
}

/** The task's own log lines from its last attempt, as the kernel keeps them in the run history. */
export interface ILastLog {
  lines: string[];
  /** Not every line was kept (the history caps a task's log). */
  truncated: boolean;
  /** How that attempt ended, e.g. "failed" ("" when the kernel did not say). */
  status: string;
}

/**
 * `{event: "outputs", task_id, outputs, log?}` checked, or null when `content`
 * is something else. `log` is null when absent, null, or not of the shape
 * `{lines: [str, ...], truncated: bool, status: str}`.
 */
export function parseOutputsReply(
  content: unknown
): { taskId: string; outputs: IOutputInfo[]; log: ILastLog | null } | null {
  if (!isDict(content) || content.event !== 'outputs' || typeof content.task_id !== 'string') {
    return null;
  }
  const outputs = Array.isArray(content.outputs) ? content.outputs.filter(isDict).map(outputInfo) : [];
  return { taskId: content.task_id, outputs, log: lastLog(content.log) };
}

function lastLog(v: unknown): ILastLog | null {
  if (!isDict(v) || !isStringArray(v.lines)) {
    return null;
  }
  return { lines: v.lines, truncated: v.truncated === true, status: typeof v.status === 'string' ? v.status : '' };
}

/** `{event: "preview", task_id, index, preview}` checked, or null when `content` is something else. */
export function parsePreviewReply(content: unknown): { taskId: string; index: number; preview: Preview } | null {
  if (
    !isDict(content) ||
    content.event !== 'preview' ||
    typeof content.task_id !== 'string' ||
    typeof content.index !== 'number' ||
    !isDict(content.preview)
  ) {
    return null;
  }
  return { taskId: content.task_id, index: content.index, preview: checkPreview(content.preview) };
}

function checkPreview(p: Dict): Preview {
  const common = {
    ...outputInfo(p),
    truncated: p.truncated === true,
    note: typeof p.note === 'string' ? p.note : ''
  };
  if (p.kind === 'table' && isStringArray(p.columns) && Array.isArray(p.rows) && p.rows.every(isStringArray)) {
    return { ...common, kind: 'table', columns: p.columns, rows: p.rows as string[][] };
  }
  if (p.kind === 'text' && typeof p.text === 'string') {
    return { ...common, kind: 'text', text: p.text };
  }
  if (
    p.kind === 'image' &&
    typeof p.mime === 'string' &&
    (IMAGE_MIMES as readonly string[]).includes(p.mime) &&
    typeof p.data === 'string' &&
    /^[A-Za-z0-9+/]*={0,2}$/.test(p.data)
  ) {
    return { ...common, kind: 'image', mime: p.mime as ImageMime, data: p.data };
  }
  if (p.kind === 'message' && typeof p.text === 'string') {
    return { ...common, kind: 'message', text: p.text };
  }
  return { ...common, kind: 'message', text: 'The kernel sent a preview this page cannot show.' };
}
