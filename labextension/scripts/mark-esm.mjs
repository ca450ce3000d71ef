// Mark a compiled-test folder as ES modules, so that node runs the tsc output
// (ESM with explicit ".js" imports) as-is.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/mark-esm.mjs <folder>');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
