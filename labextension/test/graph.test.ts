import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  NodeMap,
  STATES,
  STATE_PRIORITY,
  STATE_STYLES,
  UNKNOWN_STATE_STYLE,
  collapseByFamily,
  countStates,
  dominantState,
  dotQuote,
  dotRankdir,
  effectiveState,
  familyFromNodeId,
  familyNodeId,
  familyOf,
  formatCounts,
  formatDuration,
  formatParam,
  isKnownState,
  matchTasks,
  parseEdgeTitle,
  stateColour,
  stateLabel,
  stateMeaning,
  stateStyle,
  tooltipText
} from '../src/graph.js';
import { makePipeline } from './fixtures.js';

/** The states the kernel sends (ShownState in nbpipe/engine/shown_state.py). */
const PROTOCOL_STATES = [
  'not_built',
  'running',
  'ran',
  'complete',
  'failed',
  'upstream_failed',
  'external_missing',
  'invalidated',
  'stale',
  'disabled',
  'unschedulable'
];

test('every protocol state has its own colour, in the legend and the priority list', () => {
  assert.deepEqual([...STATES].sort(), [...PROTOCOL_STATES].sort());
  assert.deepEqual([...STATE_PRIORITY].sort(), [...PROTOCOL_STATES].sort());
  assert.deepEqual(Object.keys(STATE_STYLES).sort(), [...PROTOCOL_STATES].sort());
  const fills = PROTOCOL_STATES.map(stateColour);
  assert.equal(new Set(fills).size, fills.length, 'fills are distinct');
  for (const s of PROTOCOL_STATES) {
    assert.match(stateColour(s), /^#[0-9a-f]{6}$/);
    assert.equal(stateStyle(s), STATE_STYLES[s as keyof typeof STATE_STYLES]);
    assert.ok(isKnownState(s));
  }
  assert.equal(stateColour('failed'), '#ef5350');
  assert.equal(stateColour('ran'), '#66bb6a');
  assert.equal(stateColour('running'), '#90caf9');
});

test('the old state names are gone', () => {
  for (const s of ['pending', 'done', 'missing', 'external', 'broken']) {
    assert.ok(!isKnownState(s), s);
    assert.equal(stateStyle(s), UNKNOWN_STATE_STYLE);
  }
});

test('states have a label and a meaning for people', () => {
  for (const s of PROTOCOL_STATES) {
    assert.ok(stateLabel(s).length > 0, s);
    assert.ok(!stateLabel(s).includes('_'), `${s}: label is not the identifier`);
    assert.ok(stateMeaning(s).length > 0, s);
  }
  assert.equal(stateLabel('not_built'), 'not built');
  assert.equal(stateLabel('external_missing'), 'external input missing');
  assert.equal(stateLabel('unschedulable'), 'could not be scheduled');
  assert.equal(stateLabel('some_new_state'), 'some new state', 'unknown: readable raw name');
  assert.equal(stateMeaning('some_new_state'), '');
  assert.ok(UNKNOWN_STATE_STYLE.label && UNKNOWN_STATE_STYLE.description);
});

test('unknown states get the fallback colour, not a crash', () => {
  assert.equal(stateStyle('exploded'), UNKNOWN_STATE_STYLE);
  assert.equal(stateColour(''), UNKNOWN_STATE_STYLE.fill);
  assert.equal(stateColour('toString'), UNKNOWN_STATE_STYLE.fill, 'no prototype keys');
});

test('fills are light enough for the dark node text', () => {
  for (const s of PROTOCOL_STATES) {
    const hex = stateColour(s).slice(1);
    const [r, g, b] = [0, 2, 4].map(i => parseInt(hex.slice(i, i + 2), 16) / 255);
    const lin = (c: number): number => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    const lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    const contrast = (lum + 0.05) / (0.0103 + 0.05); // against #1a1a1a
    assert.ok(contrast >= 4.5, `${s}: contrast ${contrast.toFixed(2)}`);
  }
});

test('live states win over the nodes snapshot; unknown tasks are not built', () => {
  const nodes: NodeMap = { a: { state: 'stale' }, b: {} };
  assert.equal(effectiveState('a', nodes, {}), 'stale');
  assert.equal(effectiveState('a', nodes, { a: 'running' }), 'running');
  assert.equal(effectiveState('b', nodes, {}), 'not_built');
  assert.equal(effectiveState('zzz', nodes, {}), 'not_built');
});

test('counts, their text and the dominant state of a group', () => {
  const nodes: NodeMap = { a: {}, b: {}, c: {}, d: {}, e: {} };
  const counts = countStates(['a', 'b', 'c', 'd', 'e'], nodes, {
    a: 'ran',
    b: 'ran',
    c: 'running',
    d: 'weird_state',
    e: 'upstream_failed'
  });
  assert.deepEqual(counts, { ran: 2, running: 1, weird_state: 1, upstream_failed: 1 });
  assert.equal(formatCounts(counts), '1 running, 2 ran, 1 upstream failed, 1 weird state');
  assert.equal(dominantState(counts), 'running');
  assert.equal(dominantState({ ran: 3, failed: 1 }), 'failed');
  assert.equal(dominantState({ ran: 3, unschedulable: 1, running: 2 }), 'unschedulable');
  assert.equal(dominantState({ ran: 3, complete: 2 }), 'ran');
  assert.equal(dominantState({ disabled: 3, complete: 1 }), 'complete');
  assert.equal(dominantState({ weird: 2 }), 'weird');
  assert.equal(dominantState({}), 'not_built');
  // The order comes from the generated vocabulary.
  for (let i = 0; i < STATE_PRIORITY.length - 1; i++) {
    const [hi, lo] = [STATE_PRIORITY[i], STATE_PRIORITY[i + 1]];
    assert.equal(dominantState({ [lo]: 5, [hi]: 1 }), hi);
  }
});

test('tooltips carry the state label, its meaning and the reasons', () => {
  const stale = tooltipText(
    'Clean(day=1)',
    { reasons: ['code of Clean changed', 'input Extract(day=1) is newer'] },
    'stale'
  );
  assert.equal(
    stale,
    `Clean(day=1)\nstate: stale — ${stateMeaning('stale')}\nwhy:\n  - code of Clean changed\n  - input Extract(day=1) is newer`
  );
  const failed = tooltipText(
    'Load',
    { reasons: ['raised ValueError'], error: 'ValueError: bad row 17\nmore' },
    'failed'
  );
  assert.match(failed, /state: failed — .*\nwhy:\n {2}- raised ValueError\nerror: ValueError: bad row 17$/);
  assert.equal(
    tooltipText('X', undefined, 'upstream_failed'),
    `X\nstate: upstream failed — ${stateMeaning('upstream_failed')}`
  );
  assert.match(tooltipText('E', undefined, 'external_missing'), /^E\nstate: external input missing — /);
  assert.equal(tooltipText('U', { reasons: ['r'] }, 'from_the_future'), 'U\nstate: from the future\nwhy:\n  - r');
  const many = tooltipText('Y', { reasons: Array.from({ length: 12 }, (_, i) => `r${i}`) }, 'stale');
  assert.match(many, /- r7\n {2}\.\.\. 4 more$/);
});

test('every state that is not done explains why; done states only take notes', () => {
  const why = ['not_built', 'stale', 'failed', 'upstream_failed', 'invalidated', 'external_missing', 'unschedulable', 'disabled'];
  for (const s of PROTOCOL_STATES) {
    const text = tooltipText('T', { reasons: ['because'] }, s);
    assert.match(text, why.includes(s) ? /\nwhy:\n/ : /\nnotes:\n/, s);
  }
});

test('search matches id, label and family, every word, case-insensitively', () => {
  const nodes: NodeMap = {
    'Extract(day=1)': { label: 'Extract\nday=1', family: 'Extract' },
    'Extract(day=2)': { label: 'Extract\nday=2', family: 'Extract' },
    'Report_ab12': { label: 'Monthly report', family: 'Report' }
  };
  assert.equal(matchTasks(nodes, ''), null);
  assert.equal(matchTasks(nodes, '   '), null);
  assert.deepEqual([...matchTasks(nodes, 'extract')!].sort(), ['Extract(day=1)', 'Extract(day=2)']);
  assert.deepEqual([...matchTasks(nodes, 'EXTRACT day=2')!], ['Extract(day=2)']);
  assert.deepEqual([...matchTasks(nodes, 'monthly')!], ['Report_ab12']);
  assert.deepEqual([...matchTasks(nodes, 'nothing')!], []);
  // Ids only in the SVG (not in nodes yet) still match on their id.
  assert.deepEqual([...matchTasks({}, 'solo', ['Solo(x=1)', 'Other'])!], ['Solo(x=1)']);
});

test('family of a task: explicit, else the leading identifier of the id', () => {
  assert.equal(familyOf('Extract(day=1)', { family: 'pkg.Extract' }), 'pkg.Extract');
  assert.equal(familyOf('Extract(day=1)', undefined), 'Extract');
  assert.equal(familyOf('Report_ab12', {}), 'Report_ab12');
  assert.equal(familyOf('(weird)', {}), '(weird)');
  assert.equal(familyFromNodeId(familyNodeId('A.B')), 'A.B');
  assert.equal(familyFromNodeId('A.B'), null);
});

test('collapse by family: one node per family, counts per state, deduplicated edges', () => {
  const nodes: NodeMap = {
    'A(1)': { family: 'A' },
    'A(2)': { family: 'A' },
    'B(1)': { family: 'B' },
    'B(2)': { family: 'B' },
    'C(1)': { family: 'C' }
  };
  const edges: [string, string][] = [
    ['A(1)', 'B(1)'],
    ['A(2)', 'B(2)'], // same family edge A->B: kept once
    ['A(1)', 'A(2)'], // inside a family: dropped
    ['B(1)', 'C(1)'],
    ['ghost', 'C(1)'] // unknown end: dropped
  ];
  const states = { 'A(1)': 'ran', 'A(2)': 'failed', 'B(1)': 'upstream_failed' };
  const c = collapseByFamily(nodes, edges, { rankdir: 'TB', states });
  assert.deepEqual([...c.families.entries()], [
    ['A', ['A(1)', 'A(2)']],
    ['B', ['B(1)', 'B(2)']],
    ['C', ['C(1)']]
  ]);
  assert.deepEqual(c.familyEdges, [
    ['A', 'B'],
    ['B', 'C']
  ]);
  assert.match(c.dot, /^digraph nbpipe_families \{/);
  assert.match(c.dot, /rankdir="TB";/);
  assert.match(
    c.dot,
    /"nbpipe-family:A" \[id="nbpipe-family:A", label="A\\n2 tasks\\n1 ran, 1 failed"/
  );
  assert.match(c.dot, /label="B\\n2 tasks\\n1 not built, 1 upstream failed"/);
  assert.match(c.dot, /label="C\\n1 task\\n1 not built"/);
  assert.match(c.dot, /"nbpipe-family:A" -> "nbpipe-family:B";/);
  assert.equal((c.dot.match(/->/g) ?? []).length, 2);
});

test('collapse key ignores states, so state changes recolour without re-layout', () => {
  const p = makePipeline(200, 7);
  const before = collapseByFamily(p.nodes, p.edges, { rankdir: 'LR' });
  const states = Object.fromEntries(p.ids.map((id, i) => [id, i % 3 ? 'ran' : 'running']));
  const after = collapseByFamily(p.nodes, p.edges, { rankdir: 'LR', states });
  assert.equal(before.key, after.key);
  assert.notEqual(before.dot, after.dot);
  assert.equal(before.families.size, 7);
  const more = { ...p.nodes, 'NewFamily(1)': { family: 'NewFamily' } };
  assert.notEqual(collapseByFamily(more, p.edges, {}).key, before.key);
  assert.notEqual(collapseByFamily(p.nodes, p.edges, { rankdir: 'TB' }).key, before.key);
});

test('collapse of an empty or malformed input is harmless', () => {
  const c = collapseByFamily({}, [], {});
  assert.equal(c.families.size, 0);
  assert.equal(c.familyEdges.length, 0);
  const bad = [['only-one'], null, 'x'] as unknown as [string, string][];
  assert.equal(collapseByFamily({ a: {} }, bad, {}).familyEdges.length, 0);
});

test('DOT quoting and rankdir detection', () => {
  assert.equal(dotQuote('plain'), '"plain"');
  assert.equal(dotQuote('say "hi"'), '"say \\"hi\\""');
  assert.equal(dotQuote('a\\b'), '"a\\\\b"');
  assert.equal(dotQuote('two\nlines'), '"two\\nlines"');
  assert.equal(dotRankdir('digraph { rankdir=LR; a -> b }'), 'LR');
  assert.equal(dotRankdir('digraph { graph [rankdir = "bt"]; }'), 'BT');
  assert.equal(dotRankdir('digraph { a -> b }'), null);
});

test('edge titles split on the "->" that separates two known ids', () => {
  const known = new Set(['a', 'b', 'x->y', 'c']);
  const isKnown = (id: string): boolean => known.has(id);
  assert.deepEqual(parseEdgeTitle('a->b', isKnown), ['a', 'b']);
  assert.deepEqual(parseEdgeTitle('x->y->c', isKnown), ['x->y', 'c']);
  assert.equal(parseEdgeTitle('a--b', isKnown), null);
  assert.equal(parseEdgeTitle('a->zzz', isKnown), null);
});

test('durations and parameters as text', () => {
  assert.equal(formatDuration(null), '—');
  assert.equal(formatDuration(undefined), '—');
  assert.equal(formatDuration(Number.NaN), '—');
  assert.equal(formatDuration(0.0123), '12 ms');
  assert.equal(formatDuration(3.14159), '3.14 s');
  assert.equal(formatDuration(42.25), '42.3 s');
  assert.equal(formatDuration(192), '3 min 12 s');
  assert.equal(formatDuration(3723), '1 h 2 min 3 s');
  assert.equal(formatParam('2024-01-01'), '2024-01-01');
  assert.equal(formatParam(3), '3');
  assert.equal(formatParam([1, 'a']), '[1,"a"]');
  assert.equal(formatParam(null), 'null');
  assert.equal(formatParam(undefined), 'undefined');
});
