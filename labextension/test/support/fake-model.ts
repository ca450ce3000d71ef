/**
 * A stand-in for the model anywidget gives `render({model, el})`: traits by
 * name with `change:<name>` events (fired only when the value changed, as
 * Backbone does), `msg:custom` through trigger(), and the messages the view
 * sends recorded in `sent`.
 */
type Callback = (...args: any[]) => void;

export class FakeModel {
  readonly sent: unknown[] = [];
  private readonly attributes: { [name: string]: unknown };
  private readonly handlers = new Map<string, Callback[]>();

  constructor(attributes: { [name: string]: unknown } = {}) {
    this.attributes = { ...attributes };
  }

  get(name: string): unknown {
    return this.attributes[name];
  }

  set(name: string, value: unknown): void {
    if (JSON.stringify(this.attributes[name]) === JSON.stringify(value)) {
      return;
    }
    this.attributes[name] = value;
    this.trigger(`change:${name}`);
  }

  /** Several traits at once, each with its change event (as a kernel update does). */
  update(values: { [name: string]: unknown }): void {
    for (const [name, value] of Object.entries(values)) {
      this.set(name, value);
    }
  }

  on(event: string, callback: Callback): void {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), callback]);
  }

  off(event?: string | null, callback?: Callback | null): void {
    for (const [name, list] of this.handlers) {
      if (event == null || event === name) {
        this.handlers.set(
          name,
          list.filter(c => callback != null && c !== callback)
        );
      }
    }
  }

  trigger(event: string, ...args: unknown[]): void {
    for (const callback of [...(this.handlers.get(event) ?? [])]) {
      callback(...args);
    }
  }

  send(content: unknown): void {
    this.sent.push(content);
  }

  save_changes(): void {}

  listenerCount(): number {
    let n = 0;
    for (const list of this.handlers.values()) {
      n += list.length;
    }
    return n;
  }
}
