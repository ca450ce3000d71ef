/**
 * The nbpipe DAG widget: model (synced with the kernel) and view.
 *
 * Protocol (the Python side is the DagWidget model in the nbpipe package):
 * - traits `dot`, `nodes`, `edges`, `states`, `details` (fields of `nodes`
 *   changed during the current run, laid over them), `summary_html`, `running`;
 *   task states are the names in states.generated.ts (from
 *   nbpipe/engine/shown_state.py);
 * - the view sends `{action, task_id?}` with action one of `run`,
 *   `invalidate`, `invalidate_downstream`, `run_all`, `stop` (actions.ts);
 * - the kernel sends `{event: "refused", task_id, reason}` and
 *   `{event: "error", message}`, shown in the message line (messages.ts);
 * - during a run the kernel sends `{event: "states", states, details}`: only
 *   what changed, laid over the model's `states` and `details` (live-states.ts).
 *
 * The view is assembled in view.ts from canvas.ts (the SVG), panzoom.ts,
 * search.ts, collapse.ts, legend.ts, panel.ts and actions.ts.
 */
import { DOMWidgetModel, ISerializers } from '@jupyter-widgets/base';

import { MODULE_NAME, MODULE_VERSION_RANGE } from './version.js';

export { DagView } from './view.js';
export { AUTO_COLLAPSE_TASKS } from './collapse.js';
export type { Action } from './actions.js';

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
      details: {},
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
