// Build what the Python package ships for the DAG widget, into
// ../nbpipe/notebook/static/ (package data: a built wheel needs no Node.js):
//   dag_view.js   the view, one ES module bundled by esbuild from src/index.ts (DagWidget._esm)
//   dag_view.css  the view's style (DagWidget._css)
//   graphviz.json the Graphviz bundle as code, sent once per kernel by the shared layout engine
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

import { graphvizBundle } from './graphviz-bundle.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const out = join(root, '..', 'nbpipe', 'notebook', 'static');
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(root, 'src', 'index.ts')],
  outfile: join(out, 'dag_view.js'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  legalComments: 'none',
  // Graphviz must never end up in here: it travels once per kernel, not with every widget.
  external: ['@hpcc-js/wasm-graphviz'],
  logLevel: 'warning'
});
copyFileSync(join(root, 'style', 'base.css'), join(out, 'dag_view.css'));
const { code, className, version } = graphvizBundle();
writeFileSync(join(out, 'graphviz.json'), JSON.stringify({ version, graphviz_class: className, source: code }));
console.log(`built ${out}`);
