/**
 * The pieces that keep the page responsive at scale: the layout worker's
 * message handler, the layout client (cache by digest, fallback to the main
 * thread where no Worker exists, as in node), cutting SVG into pieces, and
 * expanding one family of the collapsed graph.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Graphviz } from '@hpcc-js/wasm-graphviz';

import { graphDigest } from '../src/digest.js';
import { collapseByFamily, familyNodeId } from '../src/graph.js';
import { layoutDot, loadGraphviz, svgNodeIds } from '../src/layout.js';
import { LayoutService } from '../src/layout-client.js';
import { ILayoutRequest, LayoutReply, serveLayouts } from '../src/layout-worker.js';
import { cutSvg } from '../src/svg-chunks.js';
import { GRAPHVIZ_CLASS, GRAPHVIZ_SOURCE } from '../src/graphviz-source.js';
import { makePipeline } from './fixtures.js';

function fakeScope(): { scope: Parameters<typeof serveLayouts>[0]; replies: Promise<LayoutReply>[]; ask(r: ILayoutRequest): void } {
  const waiting: ((r: LayoutReply) => void)[] = [];
  const replies: Promise<LayoutReply>[] = [];
  const scope: Parameters<typeof serveLayouts>[0] = {
    onmessage: null,
    postMessage: reply => waiting.shift()!(reply)
  };
  return {
    scope,
    replies,
    ask(r) {
      replies.push(new Promise(resolve => waiting.push(resolve)));
      scope.onmessage!({ data: r });
    }
  };
}

test('the worker answers each request with SVG or with Graphviz\'s error', async () => {
  const w = fakeScope();
  serveLayouts(w.scope, Graphviz);
  w.ask({ id: 7, dot: 'digraph { a [id="A"]; a -> b }' });
  w.ask({ id: 8, dot: 'digraph { a -> }' });
  const [ok, bad] = await Promise.all(w.replies);
  assert.equal(ok.id, 7);
  assert.ok('svg' in ok && ok.svg.startsWith('<svg'), 'SVG without its prolog');
  assert.deepEqual(svgNodeIds((ok as { svg: string }).svg), ['A', 'node2']);
  assert.ok(bad.id === 8 && 'error' in bad && bad.error.length > 0 && !bad.fatal);
});

test('a worker whose Graphviz cannot load says so (fatal: the page lays out on the main thread)', async () => {
  const w = fakeScope();
  serveLayouts(w.scope, { load: () => Promise.reject(new Error('no WebAssembly')) });
  w.ask({ id: 1, dot: 'digraph { a }' });
  assert.deepEqual(await w.replies[0], { id: 1, error: 'no WebAssembly', fatal: true });
});

test('the worker code refers to nothing outside itself: it runs after the inlined bundle, as in the Blob', async () => {
  // What WorkerClient.start puts in the Blob, run with a fake worker scope instead of `self`.
  const w = fakeScope();
  const code = `${GRAPHVIZ_SOURCE}\n;(${serveLayouts.toString()})(scope, ${GRAPHVIZ_CLASS});`;
  new Function('scope', code)(w.scope);
  w.ask({ id: 1, dot: 'digraph { x [id="X"] }' });
  const reply = await w.replies[0];
  assert.deepEqual('svg' in reply ? svgNodeIds(reply.svg) : reply, ['X']);
});

test('without Worker (node) layout falls back to the main thread, and is cached by digest', async () => {
  let asked = 0;
  // node has no Worker, and cannot import a Blob URL: Graphviz for the main thread comes from npm here.
  const service = new LayoutService(
    () => {
      asked += 1;
      return Promise.resolve({ source: GRAPHVIZ_SOURCE, className: GRAPHVIZ_CLASS });
    },
    loadGraphviz
  );
  const dot = 'digraph { fallback [id="F"] }';
  const a = service.layoutSvg(dot);
  assert.equal(service.layoutSvg(dot), a, 'the same request while under way');
  assert.equal(await a, await layoutDot(dot));
  assert.equal(service.engine, 'main-thread');
  // The collapsed graph is cached by its shape: new counts in the labels do not lay out again.
  const first = await service.layoutSvg('digraph { s [label="1 ran"] }', 'shape-1');
  assert.equal(await service.layoutSvg('digraph { s [label="2 ran"] }', 'shape-1'), first);
  await assert.rejects(service.layoutSvg('digraph { a -> }'), /syntax|error/i);
  assert.equal(asked, 1, "the kernel's Graphviz code is read once, for the worker that could not start");
});

test('digests differ for different graphs and are stable', () => {
  const p = makePipeline(200, 5);
  assert.equal(graphDigest(p.dot), graphDigest(p.dot.slice()));
  assert.notEqual(graphDigest(p.dot), graphDigest(p.dot.replace('Family1', 'Family9')));
  assert.notEqual(graphDigest('ab'), graphDigest('ba'));
});

test('SVG is cut into a frame and one piece per node and edge, losing nothing', async () => {
  const p = makePipeline(60, 4);
  const svg = await layoutDot(p.dot);
  const { frame, items } = cutSvg(svg);
  assert.ok(frame.startsWith('<svg') && frame.trimEnd().endsWith('</svg>'));
  assert.ok(!/class="(node|edge)"/.test(frame), 'no node or edge in the frame');
  const nodes = items.filter(i => i.includes('class="node"'));
  assert.equal(nodes.length, 60);
  assert.equal(items.length - nodes.length, p.edges.length);
  // Put back together, it is the same markup.
  const at = frame.indexOf('</g>\n</svg>');
  assert.equal(frame.slice(0, at) + items.join('') + frame.slice(at), svg);
  assert.deepEqual(cutSvg('<svg></svg>'), { frame: '<svg></svg>', items: [] });
});

test('expanding one family of the collapsed graph shows its tasks, the rest stays collapsed', async () => {
  const p = makePipeline(90, 3);
  const collapsed = collapseByFamily(p.nodes, p.edges);
  const one = collapseByFamily(p.nodes, p.edges, { expanded: new Set(['Family1']) });
  assert.notEqual(one.key, collapsed.key, 'another layout');
  const ids = svgNodeIds(await layoutDot(one.dot)).sort();
  const members = p.ids.filter(id => id.startsWith('Family1(')).sort();
  assert.deepEqual(ids, [familyNodeId('Family0'), familyNodeId('Family2'), ...members].sort());
  // Edges connect tasks of the expanded family with the other families' nodes.
  assert.match(one.dot, new RegExp(`"${familyNodeId('Family0')}" -> "Family1\\(`));
});
