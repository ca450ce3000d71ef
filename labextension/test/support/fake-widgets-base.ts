/**
 * A stand-in for the parts of @jupyter-widgets/base that DagModel and DagView
 * use: Backbone-style models (get/set, change:<name> events, send) and views
 * (el, listenTo/stopListening, remove). Messages the view sends are recorded
 * in `model.sent`.
 */
type Callback = (...args: unknown[]) => void;

interface IHandler {
  fn: Callback;
  ctx: unknown;
}

class Events {
  private handlers = new Map<string, IHandler[]>();

  on(event: string, fn: Callback, ctx?: unknown): void {
    const list = this.handlers.get(event) ?? [];
    list.push({ fn, ctx });
    this.handlers.set(event, list);
  }

  off(event: string, fn: Callback, ctx?: unknown): void {
    const list = this.handlers.get(event) ?? [];
    this.handlers.set(
      event,
      list.filter(h => h.fn !== fn || h.ctx !== ctx)
    );
  }

  trigger(event: string, ...args: unknown[]): void {
    for (const h of [...(this.handlers.get(event) ?? [])]) {
      h.fn.apply(h.ctx, args);
    }
  }

  listenerCount(): number {
    let n = 0;
    for (const list of this.handlers.values()) {
      n += list.length;
    }
    return n;
  }
}

export type ObjectHash = { [key: string]: unknown };

export class WidgetModel extends Events {
  static serializers: ObjectHash = {};
  attributes: ObjectHash;
  sent: unknown[] = [];

  constructor(attributes: ObjectHash = {}) {
    super();
    this.attributes = { ...this.defaults(), ...attributes };
  }

  defaults(): ObjectHash {
    return {
      _model_module: '@jupyter-widgets/base',
      _model_name: 'WidgetModel',
      _view_count: null
    };
  }

  get(key: string): unknown {
    return this.attributes[key];
  }

  /** Like Backbone: fire change:<key> for each changed key, then change. */
  set(values: ObjectHash): void {
    const changed: string[] = [];
    for (const [k, v] of Object.entries(values)) {
      if (JSON.stringify(this.attributes[k]) !== JSON.stringify(v)) {
        this.attributes[k] = v;
        changed.push(k);
      }
    }
    for (const k of changed) {
      this.trigger(`change:${k}`, this, this.attributes[k], {});
    }
    if (changed.length) {
      this.trigger('change', this, {});
    }
  }

  send(content: unknown): void {
    this.sent.push(content);
  }
}

export class DOMWidgetModel extends WidgetModel {
  static serializers: ObjectHash = {};

  defaults(): ObjectHash {
    return { ...super.defaults(), _dom_classes: [], layout: null, style: null };
  }
}

interface IListening {
  obj: Events;
  event: string;
  fn: Callback;
}

export class DOMWidgetView {
  model: WidgetModel;
  el: HTMLElement;
  private listening: IListening[] = [];

  constructor(options: { model: WidgetModel }) {
    this.model = options.model;
    this.el = document.createElement('div');
  }

  listenTo(obj: Events, event: string, fn: Callback): void {
    obj.on(event, fn, this);
    this.listening.push({ obj, event, fn });
  }

  stopListening(): void {
    for (const { obj, event, fn } of this.listening) {
      obj.off(event, fn, this);
    }
    this.listening = [];
  }

  remove(): this {
    this.stopListening();
    this.el.remove();
    return this;
  }
}

export class WidgetView extends DOMWidgetView {}

export const IJupyterWidgetRegistry = { name: 'stand-in registry token' };
