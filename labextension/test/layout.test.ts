import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  decodeXmlEntities,
  graphvizVersion,
  layoutDot,
  loadGraphviz,
  stripSvgProlog,
  svgNodeIds
} from '../src/layout.js';
import { collapseByFamily, familyNodeId } from '../src/graph.js';
import { makePipeline } from './fixtures.js';

/** Node id -> the markup of its `<g class="node">` group. */
function nodeGroups(svg: string): Map<string, string> {
  const groups = new Map<string, string>();
  const re = /<g id="([^"]*)" class="node">/g;
  const starts = [...svg.matchAll(re)];
  starts.forEach((m, i) => {
    const end = i + 1 < starts.length ? starts[i + 1].index : svg.length;
    groups.set(decodeXmlEntities(m[1]), svg.slice(m.index, end));
  });
  return groups;
}

test('Graphviz loads once and is reused', async () => {
  const a = loadGraphviz();
  const b = loadGraphviz();
  assert.equal(a, b);
  assert.equal(await a, await b);
  assert.match(await graphvizVersion(), /^\d+\.\d+/);
});

test('layout yields SVG whose g.node elements carry the task ids', async () => {
  const dot = [
    'digraph G {',
    '  rankdir=LR;',
    '  "Extract(day=1)" [id="Extract(day=1)", label="Extract\\nday=1", tooltip="Extract(day=1)"];',
    '  "Load<&>\\"q\\"" [id="Load<&>\\"q\\"", label="Load", tooltip="tip"];',
    '  "Report" [id="Report", label="Report", tooltip="Report"];',
    '  "Extract(day=1)" -> "Load<&>\\"q\\"";',
    '  "Load<&>\\"q\\"" -> "Report";',
    '}'
  ].join('\n');
  const svg = await layoutDot(dot);
  assert.ok(svg.startsWith('<svg'), 'prolog stripped');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.deepEqual(svgNodeIds(svg).sort(), ['Extract(day=1)', 'Load<&>"q"', 'Report'].sort());
  // Each node group keeps a <title> for the tooltip, and the edges are there.
  assert.equal((svg.match(/<g id="[^"]*" class="edge">/g) ?? []).length, 2);
  assert.match(svg, /<g id="Report" class="node">\s*<title>Report<\/title>/);
  // rankdir=LR: the requirement is left of the task that requires it.
  const groups = nodeGroups(svg);
  const x = (id: string): number => {
    const m = /<text[^>]* x="([-\d.]+)"/.exec(groups.get(id)!);
    return Number(m![1]);
  };
  assert.ok(x('Extract(day=1)') < x('Report'));
});

test('a repeated DOT is served from the recent-layouts cache', async () => {
  const dot = 'digraph { cached [id="cached"] }';
  const first = await layoutDot(dot);
  const t0 = performance.now();
  const again = await layoutDot(dot);
  assert.equal(again, first);
  assert.ok(performance.now() - t0 < 5);
});

test('invalid DOT rejects with an Error', async () => {
  await assert.rejects(layoutDot('digraph { a -> }'), Error);
  // And the shared instance still works afterwards.
  assert.deepEqual(svgNodeIds(await layoutDot('digraph { a [id="a"] }')), ['a']);
});

test('the collapsed family DOT lays out with one node per family', async () => {
  const p = makePipeline(60, 5);
  const c = collapseByFamily(p.nodes, p.edges, { rankdir: 'LR' });
  const svg = await layoutDot(c.dot);
  const ids = svgNodeIds(svg).sort();
  assert.deepEqual(ids, [0, 1, 2, 3, 4].map(i => familyNodeId(`Family${i}`)).sort());
  // Family nodes have three label lines: name, size, counts (updated in place).
  const group = nodeGroups(svg).get(familyNodeId('Family0'))!;
  assert.equal((group.match(/<text/g) ?? []).length, 3);
  assert.match(group, />12 tasks</);
  assert.match(group, />12 not built</);
});

test('a 1000-node pipeline lays out well within the 3 s budget', async t => {
  const p = makePipeline(1000);
  await loadGraphviz();
  const t0 = performance.now();
  const svg = await layoutDot(p.dot);
  const ms = performance.now() - t0;
  assert.equal(svgNodeIds(svg).length, 1000);
  t.diagnostic(`layout of 1000 nodes / ${p.edges.length} edges: ${ms.toFixed(0)} ms, SVG ${(svg.length / 1024).toFixed(0)} KiB`);
  assert.ok(ms < 3000, `layout took ${ms} ms`);
});

test('stripSvgProlog and entity decoding', () => {
  assert.equal(stripSvgProlog('<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg></svg>'), '<svg></svg>');
  assert.equal(stripSvgProlog('<svg/>'), '<svg/>');
  assert.equal(decodeXmlEntities('a&#45;&gt;b &amp; &#x41;&quot;&apos;&lt;'), 'a->b & A"\'<');
});
