/**
 * The message line: what the kernel reports back (`{event: "refused",
 * task_id, reason}`, `{event: "error", message}`) and the view's own notices.
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
