/**
 * Layout benchmark: time to lay out synthetic pipelines with the same module
 * the widget uses. Run with `npm run bench`.
 */
import { graphvizVersion, layoutDot, loadGraphviz, svgNodeIds } from '../src/layout.js';
import { collapseByFamily } from '../src/graph.js';
import { makePipeline } from './fixtures.js';

const t0 = performance.now();
await loadGraphviz();
console.log(`Graphviz ${await graphvizVersion()} loaded in ${(performance.now() - t0).toFixed(0)} ms`);

for (const n of [100, 500, 1000, 2000]) {
  const p = makePipeline(n);
  const runs: number[] = [];
  let size = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const svg = await layoutDot(p.dot);
    runs.push(performance.now() - t);
    size = svg.length;
    if (svgNodeIds(svg).length !== n) {
      throw new Error('node count mismatch');
    }
  }
  const c = collapseByFamily(p.nodes, p.edges, { rankdir: 'LR' });
  const tc = performance.now();
  await layoutDot(c.dot);
  const collapsedMs = performance.now() - tc;
  console.log(
    `${String(n).padStart(5)} nodes ${String(p.edges.length).padStart(5)} edges: ` +
      `layout min ${Math.min(...runs).toFixed(0)} ms, max ${Math.max(...runs).toFixed(0)} ms; ` +
      `SVG ${(size / 1024).toFixed(0)} KiB; collapsed (${c.families.size} families) ${collapsedMs.toFixed(0)} ms`
  );
}
