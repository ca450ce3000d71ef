/**
 * The shared layout engine: every DAG widget's `layout_engine` trait refers
 * (as "IPY_MODEL_<id>", ipywidgets' widget reference) to one model per kernel
 * whose traits carry the Graphviz bundle (`graphviz_source`, `graphviz_class`;
 * see nbpipe/notebook/frontend.py). The bundle thus crosses the comm once per
 * kernel, however many widgets a notebook shows.
 *
 * anywidget imports a widget's code once per model, so anything kept at
 * module level here is per DAG widget; the layout service is kept on the
 * engine model object instead (under a global symbol), which the widget
 * manager hands to every widget of the page.
 */
import { IGraphvizCode, LayoutService } from './layout-client.js';

/** The ipywidgets prefix of a serialized widget reference. */
const WIDGET_REF = 'IPY_MODEL_';

/** The property of the engine model that holds the page's layout service. */
const SERVICE = Symbol.for('nbpipe.layoutService');

/** The part of a widget manager used here. */
export interface IWidgetManager {
  get_model(modelId: string): Promise<unknown>;
}

/** The part of the engine model used here (a Backbone model of @jupyter-widgets/base). */
interface IEngineModel {
  get(name: string): unknown;
  [SERVICE]?: LayoutService;
}

/**
 * The layout service of the engine that `ref` (the `layout_engine` trait)
 * names, made on first use. Rejects with a readable message when the
 * reference or the engine's traits are not what the kernel sends.
 */
export async function layoutServiceFor(ref: unknown, manager: IWidgetManager | undefined): Promise<LayoutService> {
  const engine = await engineModel(ref, manager);
  let service = engine[SERVICE];
  if (service === undefined) {
    service = new LayoutService(() => Promise.resolve(graphvizCode(engine)));
    engine[SERVICE] = service;
  }
  return service;
}

async function engineModel(ref: unknown, manager: IWidgetManager | undefined): Promise<IEngineModel> {
  if (isModel(ref)) {
    return ref; // a front end that unpacked the reference already
  }
  if (typeof ref !== 'string' || !ref.startsWith(WIDGET_REF)) {
    throw new Error(`the widget names no layout engine (layout_engine is ${JSON.stringify(ref)})`);
  }
  if (!manager || typeof manager.get_model !== 'function') {
    throw new Error('this front end gives the widget no widget manager to find its layout engine');
  }
  const model = await manager.get_model(ref.slice(WIDGET_REF.length));
  if (!isModel(model)) {
    throw new Error(`the layout engine ${ref} is not a widget model`);
  }
  return model;
}

function isModel(v: unknown): v is IEngineModel {
  return !!v && typeof v === 'object' && typeof (v as { get?: unknown }).get === 'function';
}

function graphvizCode(engine: IEngineModel): IGraphvizCode {
  const source = engine.get('graphviz_source');
  const className = engine.get('graphviz_class');
  if (typeof source !== 'string' || !source || typeof className !== 'string' || !/^[\w$]+$/.test(className)) {
    throw new Error('the layout engine carries no Graphviz code');
  }
  return { source, className };
}
