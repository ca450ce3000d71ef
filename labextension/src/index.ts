/**
 * The nbpipe DAG widget's front end, an anywidget module: bundled with
 * esbuild into one ES module (nbpipe/notebook/static/dag_view.js) that the
 * kernel sends as the widget's `_esm`, so every front end with anywidget
 * (JupyterLab, Notebook 7, Voilà, VS Code, Colab, exported HTML) runs it with
 * no extension of its own.
 *
 * Protocol (the Python side is DagWidget in nbpipe/notebook/widget.py):
 * - traits `dot`, `nodes`, `edges`, `states`, `details` (fields of `nodes`
 *   changed during the current run, laid over them), `summary_html`,
 *   `running`, and `layout_engine`, a reference to the kernel's one shared
 *   model carrying Graphviz (engine.ts); task states are the names in
 *   states.generated.ts (from nbpipe/engine/shown_state.py);
 * - the view sends `{action, task_id?}` with action one of `run`,
 *   `invalidate`, `invalidate_downstream`, `run_all`, `stop`, and
 *   `{action: "outputs" | "preview", task_id, index?}` (actions.ts);
 * - the kernel sends `{event: "refused", task_id, reason}` and
 *   `{event: "error", message}`, shown in the message line (messages.ts),
 *   and answers about outputs and the last attempt's log (panel.ts);
 * - during a run the kernel sends `{event: "states", states, details}`: only
 *   what changed, laid over the model's `states` and `details` (live-states.ts).
 *
 * The view is assembled in view.ts from canvas.ts (the SVG), panzoom.ts,
 * search.ts, collapse.ts, legend.ts, panel.ts and actions.ts.
 */
import type { AnyWidget, Render } from '@anywidget/types';

import { layoutServiceFor } from './engine.js';
import { DagView, IViewMemory } from './view.js';

/**
 * What a view of this model left for the next one (selection, collapse).
 * anywidget imports this module once per model, so module level is per model.
 */
const memory: IViewMemory = {};

const render: Render = ({ model, el }) => {
  const layout = layoutServiceFor(model.get('layout_engine'), model.widget_manager);
  layout.catch(() => undefined); // reported by the view, in its message line
  const view = new DagView({ model, el, layout, memory });
  view.render();
  return () => view.remove();
};

const widget: AnyWidget = { render };
export default widget;
