// The @hpcc-js/wasm-graphviz bundle (WASM inlined) as code that runs as a
// classic script: its only export statement, the last one, is removed and
// the local name of the Graphviz class recorded. The layout Web Worker is
// started from a Blob URL of that code, so no front end needs a route for a
// worker file.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** {code, className, version} of the installed @hpcc-js/wasm-graphviz; exits when its shape is unexpected. */
export function graphvizBundle() {
  const entry = require.resolve('@hpcc-js/wasm-graphviz'); // dist/index.js
  // The package's exports map hides its package.json; it sits beside dist/.
  const version = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')).version;
  const code = readFileSync(entry, 'utf8').replace(/\/\/# sourceMappingURL=\S*\s*$/, '');
  const exp = /export\s*\{([^}]*)\};?\s*$/.exec(code);
  const name = exp && /(?:^|,)\s*([\w$]+)\s+as\s+Graphviz\s*(?:,|$)/.exec(exp[1]);
  if (!exp || !name || /\bimport\s*[({"'\w]|import\.meta/.test(code.slice(0, exp.index))) {
    console.error(`${entry}: not a self-contained bundle ending in "export {… as Graphviz}"; update this script`);
    process.exit(1);
  }
  return { code: code.slice(0, exp.index), className: name[1], version };
}
