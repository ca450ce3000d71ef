/**
 * JupyterLab plugin registering the `nbpipe` widget module (DagModel, DagView)
 * with the Jupyter widget manager.
 */
import type { IPlugin } from '@lumino/coreutils';
import { ExportMap, IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { MODULE_NAME, MODULE_VERSION } from './version.js';

// JupyterLab's JupyterFrontEndPlugin<void> is IPlugin<JupyterFrontEnd, void>;
// the application object is not used here.
const plugin: IPlugin<unknown, void> = {
  id: 'nbpipe:widget',
  description: 'The nbpipe DAG widget: live task pipelines in notebooks.',
  requires: [IJupyterWidgetRegistry],
  autoStart: true,
  activate: (_app: unknown, registry: IJupyterWidgetRegistry): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      // The view and Graphviz load only when a notebook shows a DAG widget.
      exports: async (): Promise<ExportMap> => {
        const { DagModel, DagView } = await import('./widget.js');
        return { DagModel, DagView };
      }
    });
  }
};

export default plugin;
