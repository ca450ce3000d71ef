/**
 * Small DOM helpers shared by the pieces of the DAG view: element creation,
 * state classes and swatches, and a register of bound listeners so that
 * remove() can release every one of them.
 */
import { stateStyle } from './graph.js';

export function h<K extends keyof HTMLElementTagNameMap>(
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

/** The class a node, legend item or state cell carries: `nbpipe-state-<state>`. */
export function stateClass(state: string): string {
  return `nbpipe-state-${state.replace(/[^\w-]/g, '_')}`;
}

/** A little square in the state's colours. */
export function swatch(state: string): HTMLSpanElement {
  const s = h('span', 'nbpipe-swatch');
  const style = stateStyle(state);
  s.style.backgroundColor = style.fill;
  s.style.borderColor = style.stroke;
  return s;
}

/** A labelled checkbox (`label.nbpipe-toggle > input`). */
export function checkbox(
  text: string,
  title: string
): { label: HTMLLabelElement; input: HTMLInputElement } {
  const label = h('label', 'nbpipe-toggle');
  const input = h('input');
  input.type = 'checkbox';
  label.title = title;
  label.append(input, ` ${text}`);
  return { label, input };
}

export function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim();
}

interface IListener {
  target: EventTarget;
  type: string;
  fn: EventListener;
}

/**
 * DOM listeners of one view. Each piece binds its listeners once, when its
 * elements are built; release() (from the view's remove()) unbinds them all.
 */
export class DomListeners {
  private listeners: IListener[] = [];

  bind<E extends Event>(
    target: EventTarget,
    type: string,
    fn: (event: E) => void,
    options?: AddEventListenerOptions
  ): void {
    const listener = fn as EventListener;
    target.addEventListener(type, listener, options);
    this.listeners.push({ target, type, fn: listener });
  }

  release(): void {
    for (const { target, type, fn } of this.listeners) {
      target.removeEventListener(type, fn);
    }
    this.listeners = [];
  }
}
