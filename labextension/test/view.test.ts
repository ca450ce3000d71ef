/**
 * DagView against a DOM (happy-dom) and a stand-in for anywidget's model:
 * the protocol behaviour that matters before browser testing — in-place
 * recolouring, messages sent by the buttons, kernel messages shown, search,
 * collapse by family, and listeners released by remove().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Window } from 'happy-dom';

import {
  NodeMap,
  STATES,
  STATE_STYLES,
  UNKNOWN_STATE_STYLE,
  familyNodeId,
  stateColour
} from '../src/graph.js';
import { makePipeline } from './fixtures.js';
import { FakeModel } from './support/fake-model.js';

const happy = new Window({ url: 'http://localhost/' });
Object.assign(globalThis, { window: happy, document: happy.document });

const { DagView } = await import('../src/view.js');
const { LayoutService } = await import('../src/layout-client.js');
const { layoutServiceFor } = await import('../src/engine.js');
const { loadGraphviz } = await import('../src/layout.js');
const { GRAPHVIZ_CLASS, GRAPHVIZ_SOURCE } = await import('../src/graphviz-source.js');
const widget = (await import('../src/index.js')).default;

type Model = FakeModel;

const DOT = [
  'digraph pipeline {',
  '  rankdir=LR;',
  '  "Extract(day=1)" [id="Extract(day=1)", label="Extract\\nday=1", tooltip="Extract(day=1)"];',
  '  "Extract(day=2)" [id="Extract(day=2)", label="Extract\\nday=2", tooltip="Extract(day=2)"];',
  '  "Report" [id="Report", label="Report", tooltip="Report"];',
  '  "Extract(day=1)" -> "Report";',
  '  "Extract(day=2)" -> "Report";',
  '}'
].join('\n');

const NODES: NodeMap = {
  'Extract(day=1)': {
    label: 'Extract\nday=1',
    family: 'Extract',
    params: { day: 1 },
    state: 'complete',
    reasons: [],
    outputs: ['/data/extract/1.csv'],
    duration: 1.5,
    error: null,
    traceback: null
  },
  'Extract(day=2)': {
    label: 'Extract\nday=2',
    family: 'Extract',
    params: { day: 2 },
    state: 'stale',
    reasons: ['code of Extract changed'],
    outputs: ['/data/extract/2.csv'],
    duration: null,
    error: null,
    traceback: null
  },
  Report: {
    label: 'Report',
    family: 'Report',
    params: {},
    state: 'not_built',
    reasons: ['output missing'],
    outputs: [],
    duration: null,
    error: null,
    traceback: null
  }
};

const EDGES = [
  ['Extract(day=1)', 'Report'],
  ['Extract(day=2)', 'Report']
];

async function waitFor<T>(probe: () => T | null | undefined | false, what: string): Promise<T> {
  const until = Date.now() + 10000;
  for (;;) {
    const v = probe();
    if (v) {
      return v;
    }
    if (Date.now() > until) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 5));
  }
}

/**
 * One layout service for every view, as on a page: Graphviz code as the kernel sends it (for the worker,
 * which node lacks), Graphviz from npm on the main thread (node cannot import a Blob URL).
 */
const LAYOUT = Promise.resolve(
  new LayoutService(() => Promise.resolve({ source: GRAPHVIZ_SOURCE, className: GRAPHVIZ_CLASS }), loadGraphviz)
);

type View = InstanceType<typeof DagView>;

function newView(model: Model, memory: object = {}): View {
  const el = document.createElement('div');
  const view = new DagView({ model, el, layout: LAYOUT, memory });
  view.render();
  document.body.append(el);
  return view;
}

function setUp(attrs: object = {}): { model: Model; view: View; el: HTMLElement; memory: object } {
  const model = new FakeModel({
    dot: DOT,
    nodes: NODES,
    edges: EDGES,
    states: {},
    details: {},
    summary_html: '',
    running: false,
    ...attrs
  });
  const memory = {};
  const view = newView(model, memory);
  return { model, view, el: view.el, memory };
}

function nodeGroup(el: HTMLElement, id: string): SVGGElement | undefined {
  return Array.from(el.querySelectorAll<SVGGElement>('g.node')).find(g => g.getAttribute('id') === id);
}

function fillOf(g: SVGGElement): string {
  return (g.querySelector('path, polygon, ellipse') as SVGElement).style.fill;
}

function buttons(el: HTMLElement, action: string): HTMLButtonElement[] {
  return Array.from(el.querySelectorAll<HTMLButtonElement>(`button[data-action="${action}"]`));
}

test('the module is an anywidget module: its default export renders into el and returns a cleanup', () => {
  assert.equal(typeof widget, 'object');
  const render = (widget as { render: (p: object) => unknown }).render;
  const model = new FakeModel({ dot: '', nodes: {}, edges: [], states: {}, layout_engine: 'not a reference' });
  const el = document.createElement('div');
  const cleanup = render({ model, el }) as () => void;
  assert.ok(el.classList.contains('nbpipe-dag'));
  assert.equal(el.dataset.nbpipeVersion, '0.1.0', 'which build of the bundle the page runs');
  assert.ok(el.querySelector('.nbpipe-toolbar'));
  assert.ok(model.listenerCount() > 0);
  cleanup();
  assert.equal(model.listenerCount(), 0);
});

test('every widget finds the one layout service of the engine it refers to; bad references are reported', async () => {
  const engine = new FakeModel({ graphviz_source: GRAPHVIZ_SOURCE, graphviz_class: GRAPHVIZ_CLASS });
  const asked: string[] = [];
  const manager = {
    get_model: (id: string) => {
      asked.push(id);
      return Promise.resolve(id === 'e1' ? engine : undefined);
    }
  };
  const a = await layoutServiceFor('IPY_MODEL_e1', manager);
  const b = await layoutServiceFor('IPY_MODEL_e1', manager);
  assert.equal(a, b, 'one service (one worker, one cache) per engine model');
  assert.deepEqual(asked, ['e1', 'e1']);
  assert.equal(await layoutServiceFor(engine, manager), a, 'an already unpacked reference');
  await assert.rejects(layoutServiceFor('IPY_MODEL_nope', manager), /not a widget model/);
  await assert.rejects(layoutServiceFor(null, manager), /names no layout engine/);
  await assert.rejects(layoutServiceFor('IPY_MODEL_e1', undefined), /no widget manager/);
});

test('a widget whose layout engine cannot be found says so in its message line', async () => {
  const model = new FakeModel({ dot: DOT, nodes: NODES, edges: EDGES, states: {} });
  const el = document.createElement('div');
  const layout = Promise.reject(new Error('the widget names no layout engine'));
  layout.catch(() => undefined);
  const view = new DagView({ model, el, layout, memory: {} });
  view.render();
  const message = await waitFor(() => el.querySelector<HTMLElement>('.nbpipe-message:not([hidden])'), 'message');
  assert.match(message.textContent!, /Could not lay out the graph: the widget names no layout engine/);
  view.remove();
});

test('renders the graph coloured by state, and recolours in place', async () => {
  const { model, view, el } = setUp();
  const svg = await waitFor(() => el.querySelector('svg'), 'svg');
  const report = nodeGroup(el, 'Report')!;
  assert.ok(report, 'g.node carries the task id');
  assert.equal(fillOf(report), stateColour('not_built'));
  assert.ok(report.classList.contains('nbpipe-state-not_built'));
  assert.equal(fillOf(nodeGroup(el, 'Extract(day=2)')!), stateColour('stale'));
  const staleTitle = nodeGroup(el, 'Extract(day=2)')!.querySelector('title')!.textContent!;
  assert.match(staleTitle, /state: stale — complete, but .*\nwhy:\n {2}- code of Extract changed/);
  const legendCount = (s: string): string =>
    el.querySelector(`.nbpipe-legend-item.nbpipe-state-${s} .nbpipe-legend-count`)!.textContent!;
  assert.equal(legendCount('stale'), '1');

  model.update({ states: { Report: 'running', 'Extract(day=2)': 'failed' } });
  assert.equal(el.querySelector('svg'), svg, 'same SVG element: no new layout');
  assert.equal(nodeGroup(el, 'Report'), report, 'same node element');
  assert.equal(fillOf(report), stateColour('running'));
  assert.ok(report.classList.contains('nbpipe-state-running'));
  assert.ok(!report.classList.contains('nbpipe-state-not_built'));
  assert.equal(legendCount('failed'), '1');
  assert.equal(legendCount('stale'), '0');

  model.update({ dot: DOT.replace('rankdir=LR;', 'rankdir=TB;') });
  await waitFor(() => el.querySelector('svg') !== svg && el.querySelector('svg'), 'new svg');
  assert.equal(fillOf(nodeGroup(el, 'Report')!), stateColour('running'), 'states survive a re-layout');
  view.remove();
});

test('clicking a node shows its details; buttons send the protocol messages', async () => {
  const { model, view, el } = setUp({
    nodes: {
      ...NODES,
      Report: {
        ...NODES.Report,
        state: 'failed',
        error: 'ValueError: bad row',
        traceback: 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad row',
        duration: 0.25
      }
    }
  });
  await waitFor(() => el.querySelector('svg'), 'svg');
  const detail = el.querySelector<HTMLElement>('.nbpipe-detail')!;
  assert.ok(detail.hidden);
  for (const b of buttons(el, 'run')) {
    assert.ok(b.disabled, 'Run needs a selected task');
  }

  // Click the label text inside the node: the group is found with closest().
  const text = nodeGroup(el, 'Report')!.querySelector('text')!;
  text.dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  assert.ok(!detail.hidden);
  const content = detail.textContent!;
  assert.match(content, /Report/);
  assert.match(content, /failed/);
  assert.match(content, /250 ms/);
  assert.equal(
    detail.querySelector('pre.nbpipe-traceback')!.textContent,
    'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad row'
  );
  assert.equal(detail.querySelector('pre.nbpipe-error')!.textContent, 'ValueError: bad row');
  assert.ok(nodeGroup(el, 'Report')!.classList.contains('nbpipe-selected'));

  buttons(el, 'run')[0].click();
  buttons(el, 'invalidate')[0].click();
  buttons(el, 'invalidate_downstream')[0].click();
  buttons(el, 'run_all')[0].click();
  assert.ok(buttons(el, 'stop')[0].disabled, 'Stop only while running');
  model.update({ running: true });
  assert.ok(buttons(el, 'run')[0].disabled, 'no Run while running');
  buttons(el, 'stop')[1].click();
  assert.deepEqual(model.sent, [
    { action: 'outputs', task_id: 'Report' }, // where its outputs are, and its last attempt's log
    { action: 'run', task_id: 'Report' },
    { action: 'invalidate', task_id: 'Report' },
    { action: 'invalidate_downstream', task_id: 'Report' },
    { action: 'run_all' },
    { action: 'stop' }
  ]);

  // Listeners are bound once: after re-layouts and state updates, one click is one message.
  model.update({ running: false, states: { Report: 'ran' } });
  model.update({ dot: DOT + '\n' });
  await waitFor(() => nodeGroup(el, 'Report')?.classList.contains('nbpipe-state-ran'), 'relayout');
  model.sent.length = 0;
  buttons(el, 'run_all')[0].click();
  assert.deepEqual(model.sent, [{ action: 'run_all' }]);

  // After remove(): no DOM or model listeners left.
  const modelListenersBefore = model.listenerCount();
  view.remove();
  assert.ok(modelListenersBefore > 0);
  assert.equal(model.listenerCount(), 0);
  model.sent.length = 0;
  buttons(el, 'run_all')[0].click();
  assert.deepEqual(model.sent, []);
});

test('kernel "refused" and "error" messages show in the message line', async () => {
  const { model, view, el } = setUp();
  const line = el.querySelector<HTMLElement>('.nbpipe-message')!;
  assert.ok(line.hidden);
  model.trigger('msg:custom', { event: 'refused', task_id: 'Report', reason: 'a run is in progress' });
  assert.ok(!line.hidden);
  assert.equal(line.dataset.kind, 'warning');
  assert.match(line.textContent!, /Refused Report: a run is in progress/);
  model.trigger('msg:custom', { event: 'error', message: 'boom' });
  assert.equal(line.dataset.kind, 'error');
  assert.match(line.textContent!, /Error: boom/);
  model.trigger('msg:custom', { event: 'something-new' });
  assert.match(line.textContent!, /Error: boom/, 'unknown events are ignored');
  el.querySelector<HTMLButtonElement>('.nbpipe-message-dismiss')!.click();
  assert.ok(line.hidden);
  view.remove();
});

test('summary HTML is shown below the graph', () => {
  const { model, view, el } = setUp({ summary_html: '<b>3 ran</b>' });
  const summary = el.querySelector<HTMLElement>('.nbpipe-summary')!;
  assert.equal(summary.innerHTML, '<b>3 ran</b>');
  assert.ok(!summary.hidden);
  model.update({ summary_html: '' });
  assert.ok(summary.hidden);
  view.remove();
});

test('search dims the tasks that do not match', async () => {
  const { view, el } = setUp();
  await waitFor(() => el.querySelector('svg'), 'svg');
  const input = el.querySelector<HTMLInputElement>('.nbpipe-search')!;
  input.value = 'day=2';
  input.dispatchEvent(new happy.KeyboardEvent('keydown', { key: 'Enter' }) as unknown as Event);
  assert.ok(nodeGroup(el, 'Extract(day=1)')!.classList.contains('nbpipe-dim'));
  assert.ok(nodeGroup(el, 'Report')!.classList.contains('nbpipe-dim'));
  assert.ok(!nodeGroup(el, 'Extract(day=2)')!.classList.contains('nbpipe-dim'));
  assert.ok(nodeGroup(el, 'Extract(day=2)')!.classList.contains('nbpipe-selected'), 'Enter selects the first match');
  assert.equal(el.querySelectorAll('g.edge.nbpipe-dim').length, 2);
  assert.equal(el.querySelector('.nbpipe-match-count')!.textContent, '1 of 3');
  input.dispatchEvent(new happy.KeyboardEvent('keydown', { key: 'Escape' }) as unknown as Event);
  assert.equal(el.querySelectorAll('.nbpipe-dim').length, 0);
  view.remove();
});

test('collapse by family: one node per family, counts recoloured in place', async () => {
  const { model, view, el } = setUp();
  await waitFor(() => el.querySelector('svg'), 'svg');
  const toggle = el.querySelector<HTMLInputElement>('.nbpipe-toggle input')!;
  toggle.checked = true;
  toggle.dispatchEvent(new happy.Event('change') as unknown as Event);
  const extract = await waitFor(() => nodeGroup(el, familyNodeId('Extract')), 'family node');
  const svg = el.querySelector('svg');
  assert.deepEqual(
    Array.from(el.querySelectorAll('g.node')).map(g => g.getAttribute('id')).sort(),
    [familyNodeId('Extract'), familyNodeId('Report')]
  );
  const texts = (): string[] => Array.from(extract.querySelectorAll('text')).map(t => t.textContent!);
  assert.deepEqual(texts(), ['Extract', '2 tasks', '1 complete, 1 stale']);
  assert.equal(fillOf(extract), stateColour('stale'));

  model.update({ states: { 'Extract(day=1)': 'running', 'Extract(day=2)': 'ran' } });
  assert.equal(el.querySelector('svg'), svg, 'no re-layout for a state change');
  assert.deepEqual(texts(), ['Extract', '2 tasks', '1 running, 1 ran']);
  assert.equal(fillOf(extract), stateColour('running'));

  // Clicking a family lists its tasks; picking one selects the task.
  extract.dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  const members = Array.from(el.querySelectorAll<HTMLButtonElement>('.nbpipe-member'));
  assert.deepEqual(members.map(m => m.dataset.taskId), ['Extract(day=1)', 'Extract(day=2)']);
  assert.ok(buttons(el, 'run')[0].disabled, 'no task selected yet');
  members[1].click();
  buttons(el, 'run')[0].click();
  assert.deepEqual(model.sent, [
    { action: 'outputs', task_id: 'Extract(day=2)' }, // the panel asks where the task's outputs are
    { action: 'run', task_id: 'Extract(day=2)' }
  ]);

  // A new family changes the collapsed shape: laid out again.
  model.update({ nodes: { ...NODES, 'Load(x=1)': { family: 'Load' } } });
  await waitFor(() => nodeGroup(el, familyNodeId('Load')), 'new family');
  view.remove();
});

test('more than 1500 tasks start collapsed by family', async () => {
  const p = makePipeline(1600, 20);
  const { view, el } = setUp({ dot: p.dot, nodes: p.nodes, edges: p.edges });
  await waitFor(() => el.querySelector('svg') && !el.querySelector('[data-drawing]'), 'svg drawn');
  assert.equal(el.querySelectorAll('g.node').length, 20);
  assert.match(el.querySelector('.nbpipe-message')!.textContent!, /1600 tasks/);
  view.remove();
});

test('an invalid DOT is reported, not thrown', async () => {
  const { view, el } = setUp({ dot: 'digraph { a -> }' });
  const line = el.querySelector<HTMLElement>('.nbpipe-message')!;
  await waitFor(() => !line.hidden, 'message');
  assert.match(line.textContent!, /Could not lay out the graph: syntax error/);
  view.remove();
});

test('the legend shows each state by its label, in legend order, with its meaning', async () => {
  const { view, el } = setUp();
  const items = Array.from(el.querySelectorAll<HTMLElement>('.nbpipe-legend-item'));
  assert.deepEqual(
    items.map(i => i.className.replace('nbpipe-legend-item ', '').replace(/ nbpipe-legend-zero$/, '')),
    STATES.map(s => `nbpipe-state-${s}`)
  );
  const item = el.querySelector<HTMLElement>('.nbpipe-legend-item.nbpipe-state-external_missing')!;
  assert.equal(item.querySelector('.nbpipe-legend-name')!.textContent, 'external input missing');
  assert.equal(item.title, `external input missing: ${STATE_STYLES.external_missing.description}`);
  assert.equal(
    el.querySelector('.nbpipe-legend-item.nbpipe-state-unschedulable .nbpipe-legend-name')!.textContent,
    'could not be scheduled'
  );
  await waitFor(() => el.querySelector('svg'), 'svg');
  view.remove();
});

test('the detail panel names the state by its label and says what it means', async () => {
  const { model, view, el } = setUp();
  await waitFor(() => el.querySelector('svg'), 'svg');
  model.update({ states: { Report: 'external_missing' } });
  nodeGroup(el, 'Report')!.dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  const cell = el.querySelector<HTMLElement>('.nbpipe-detail .nbpipe-state')!;
  assert.ok(cell.classList.contains('nbpipe-state-external_missing'));
  assert.equal(cell.textContent, 'external input missing');
  assert.equal(cell.title, STATE_STYLES.external_missing.description);
  assert.equal(
    el.querySelector('.nbpipe-detail .nbpipe-meaning')!.textContent,
    STATE_STYLES.external_missing.description
  );
  // The panel follows the live state.
  model.update({ states: { Report: 'unschedulable' } });
  assert.equal(el.querySelector('.nbpipe-detail .nbpipe-state')!.textContent, 'could not be scheduled');
  view.remove();
});

test('a state the front end does not know is drawn with the fallback style', async () => {
  const { model, view, el } = setUp();
  await waitFor(() => el.querySelector('svg'), 'svg');
  model.update({ states: { Report: 'from_the_future' } });
  const report = nodeGroup(el, 'Report')!;
  assert.equal(fillOf(report), UNKNOWN_STATE_STYLE.fill);
  assert.ok(report.classList.contains('nbpipe-state-from_the_future'));
  assert.match(report.querySelector('title')!.textContent!, /state: from the future\nwhy:/);
  view.remove();
});

test('a drag pans the graph and its closing click selects nothing', async () => {
  const { view, el } = setUp();
  await waitFor(() => el.querySelector('svg'), 'svg');
  const box = el.querySelector<HTMLElement>('.nbpipe-graph')!;
  Object.defineProperty(box, 'clientWidth', { value: 400 });
  Object.defineProperty(box, 'clientHeight', { value: 300 });
  const report = nodeGroup(el, 'Report')!;
  const pointer = (type: string, x: number): void => {
    const ev = new happy.PointerEvent(type, { bubbles: true, button: 0, pointerId: 1, pointerType: 'mouse', clientX: x, clientY: 10 });
    report.dispatchEvent(ev as unknown as Event);
  };
  pointer('pointerdown', 10);
  pointer('pointermove', 60);
  assert.ok(box.classList.contains('nbpipe-panning'));
  pointer('pointerup', 60);
  assert.ok(!box.classList.contains('nbpipe-panning'));
  report.dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  assert.ok(el.querySelector<HTMLElement>('.nbpipe-detail')!.hidden, 'the drag is not a click');
  report.dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  assert.ok(!el.querySelector<HTMLElement>('.nbpipe-detail')!.hidden, 'the next click selects');
  view.remove();
});

test('"Fit width" toggles the fit class on the graph box', () => {
  const { view, el } = setUp();
  const fit = el.querySelectorAll<HTMLInputElement>('.nbpipe-toggle input')[1];
  fit.checked = true;
  fit.dispatchEvent(new happy.Event('change') as unknown as Event);
  assert.ok(el.querySelector('.nbpipe-graph')!.classList.contains('nbpipe-fit'));
  fit.checked = false;
  fit.dispatchEvent(new happy.Event('change') as unknown as Event);
  assert.ok(!el.querySelector('.nbpipe-graph')!.classList.contains('nbpipe-fit'));
  view.remove();
});

test('live details (reasons, duration, error) refresh a node while the run goes on', async () => {
  const { model, view, el } = setUp();
  await waitFor(() => el.querySelector('svg'), 'svg');
  const text = nodeGroup(el, 'Report')!.querySelector('text')!;
  text.dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  const detail = el.querySelector<HTMLElement>('.nbpipe-detail')!;
  assert.match(detail.textContent!, /output missing/);
  model.update({
    states: { Report: 'failed' },
    details: { Report: { reasons: ['ValueError: no rows'], duration: 2, error: 'ValueError: no rows' } }
  });
  assert.match(detail.textContent!, /ValueError: no rows/);
  assert.match(detail.textContent!, /2\.0+ s|2 s/);
  assert.equal(detail.querySelector('pre.nbpipe-error')!.textContent, 'ValueError: no rows');
  assert.match(nodeGroup(el, 'Report')!.querySelector('title')!.textContent!, /ValueError: no rows/);
  // The refresh at the end of the run folds the details into `nodes` and empties `details`.
  model.update({ details: {}, nodes: { ...NODES, Report: { ...NODES.Report, state: 'failed', reasons: ['final'] } } });
  assert.match(detail.textContent!, /final/);
  view.remove();
});

test('zoom buttons scale the SVG from its own size; Fit shows the whole graph; a new view keeps the selection', async () => {
  const { model, view, el, memory } = setUp();
  const svg = await waitFor(() => el.querySelector('svg'), 'svg');
  const width = (): number => parseFloat(svg.getAttribute('width')!);
  const own = width();
  el.querySelector<HTMLButtonElement>('.nbpipe-zoom[title^="Zoom in"]')!.click();
  assert.ok(Math.abs(width() - own * 1.25) < 1, `${width()} vs ${own}`);
  el.querySelector<HTMLButtonElement>('.nbpipe-zoom[title^="Zoom out"]')!.click();
  assert.ok(Math.abs(width() - own) < 1);
  el.querySelector<HTMLButtonElement>('.nbpipe-zoom[title="Show the whole graph"]')!.click();
  assert.ok(width() <= own + 1, 'fit never enlarges past the own size');

  // Select a node, then replace the view (the kernel updated the output): the new view shows the same selection.
  nodeGroup(el, 'Report')!
    .querySelector('text')!
    .dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  view.remove();
  const again = newView(model, memory);
  await waitFor(() => nodeGroup(again.el, 'Report')?.classList.contains('nbpipe-selected'), 'kept selection');
  assert.ok(!again.el.querySelector<HTMLElement>('.nbpipe-detail')!.hidden);
  again.remove();
});

test('a run\'s state deltas from the kernel recolour in place, once per model however many views', async () => {
  const { model, view, el } = setUp();
  const svg = await waitFor(() => el.querySelector('svg'), 'svg');
  const second = newView(model);
  await waitFor(() => nodeGroup(second.el, 'Report'), 'second view drawn');
  const states = model.get('states');
  model.trigger('msg:custom', { event: 'states', states: { Report: 'running' }, details: {} });
  assert.equal(model.get('states'), states, 'laid over the copy in place, not replaced');
  assert.deepEqual(model.get('states'), { Report: 'running' });
  assert.equal(fillOf(nodeGroup(second.el, 'Report')!), stateColour('running'), 'every view recolours');
  assert.equal(el.querySelector('svg'), svg, 'no new layout');
  assert.equal(fillOf(nodeGroup(el, 'Report')!), stateColour('running'));
  model.trigger('msg:custom', {
    event: 'states',
    states: { 'Extract(day=1)': 'ran' },
    details: { Report: { reasons: ['upstream Extract(day=2) failed'] } }
  });
  assert.deepEqual(model.get('states'), { Report: 'running', 'Extract(day=1)': 'ran' });
  assert.match(nodeGroup(el, 'Report')!.querySelector('title')!.textContent!, /upstream Extract\(day=2\) failed/);
  second.remove();
  view.remove();
});

test('outputs: selecting a task asks where its outputs are; Preview asks the kernel and shows the reply as text', async () => {
  const { model, el } = setUp();
  await waitFor(() => el.querySelector('svg'), 'svg');
  const text = nodeGroup(el, 'Extract(day=1)')!.querySelector('text')!;
  text.dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  assert.deepEqual(model.sent, [{ action: 'outputs', task_id: 'Extract(day=1)' }]);
  const detail = el.querySelector<HTMLElement>('.nbpipe-detail')!;
  model.trigger('msg:custom', {
    event: 'outputs',
    task_id: 'Extract(day=1)',
    outputs: [{ path: '/data/extract/1.csv', size: 12345, mtime: 1796014828, exists: true }]
  });
  assert.match(detail.querySelector('.nbpipe-output-meta')!.textContent!, /^12 kB, modified /);
  assert.ok(el.querySelector('.nbpipe-message')!.hasAttribute('hidden'), 'not shown in the message line');

  model.sent.length = 0;
  detail.querySelector<HTMLButtonElement>('.nbpipe-preview-button')!.click();
  assert.deepEqual(model.sent, [{ action: 'preview', task_id: 'Extract(day=1)', index: 0 }]);
  const evil = '<img src=x onerror="alert(1)">';
  model.trigger('msg:custom', {
    event: 'preview',
    task_id: 'Extract(day=1)',
    index: 0,
    preview: {
      path: '/data/extract/1.csv',
      size: 12345,
      mtime: 1796014828,
      exists: true,
      kind: 'table',
      columns: ['day', evil],
      rows: [['1', '<b>x</b>']],
      truncated: true
    }
  });
  const table = detail.querySelector('table.nbpipe-preview-table')!;
  assert.deepEqual(
    Array.from(table.querySelectorAll('th')).map(th => th.textContent),
    ['day', evil]
  );
  assert.equal(table.querySelector('td:nth-child(2)')!.textContent, '<b>x</b>');
  assert.equal(detail.querySelector('.nbpipe-preview img'), null, 'kernel text never becomes markup');
  assert.equal(detail.querySelector('.nbpipe-preview b'), null);
  assert.match(detail.querySelector('.nbpipe-preview-note')!.textContent!, /only the start/);

  // Images only as data: URLs of the allowed types.
  const image = (mime: string, data: string): void => {
    model.trigger('msg:custom', {
      event: 'preview',
      task_id: 'Extract(day=1)',
      index: 0,
      preview: { path: 'p', size: 1, mtime: null, exists: true, kind: 'image', mime, data }
    });
  };
  image('image/png', 'iVBORw0KGgo=');
  assert.equal(detail.querySelector<HTMLImageElement>('img.nbpipe-preview-image')!.getAttribute('src'), 'data:image/png;base64,iVBORw0KGgo=');
  image('text/html', 'PHNjcmlwdD4=');
  assert.equal(detail.querySelector('img.nbpipe-preview-image'), null);
  assert.match(detail.querySelector('.nbpipe-preview-message')!.textContent!, /cannot show/);
  image('image/png', '"><script>');
  assert.equal(detail.querySelector('img.nbpipe-preview-image'), null);

  // A reply about a task no longer on show changes nothing.
  model.trigger('msg:custom', {
    event: 'preview',
    task_id: 'Report',
    index: 0,
    preview: { kind: 'text', text: 'other', path: 'x' }
  });
  assert.doesNotMatch(detail.textContent!, /other/);
});

test("the log of a task's last attempt: under the outputs, headed by how it ended, monospace, wrapping at spaces", async () => {
  const { model, view, el } = setUp();
  await waitFor(() => el.querySelector('svg'), 'svg');
  const detail = el.querySelector<HTMLElement>('.nbpipe-detail')!;
  const logBox = (): HTMLElement => detail.querySelector<HTMLElement>('.nbpipe-log')!;
  const select = (id: string): void => {
    nodeGroup(el, id)!
      .querySelector('text')!
      .dispatchEvent(new happy.MouseEvent('click', { bubbles: true }) as unknown as Event);
  };
  const reply = (taskId: string, log?: unknown): void =>
    model.trigger('msg:custom', { event: 'outputs', task_id: taskId, outputs: [], ...(log === undefined ? {} : { log }) });

  // Asked for every task, also one without outputs (the reply carries the log).
  select('Report');
  assert.deepEqual(model.sent, [{ action: 'outputs', task_id: 'Report' }]);
  assert.ok(logBox().hidden, 'nothing before the kernel answers');
  reply('Report'); // no `log` key: an older kernel, or no history
  assert.ok(logBox().hidden);
  assert.equal(logBox().childElementCount, 0);
  reply('Report', null);
  assert.ok(logBox().hidden);

  const evil = '<b>not markup</b>';
  reply('Report', { lines: ['reading rows', `row 7: ${evil}`, 'ValueError: bad row'], truncated: true, status: 'failed' });
  assert.ok(!logBox().hidden);
  assert.equal(logBox().querySelector('.nbpipe-section-title')!.textContent, 'Log of the last attempt (failed)');
  const pre = logBox().querySelector('pre.nbpipe-log-lines')!;
  assert.equal(pre.textContent, `reading rows\nrow 7: ${evil}\nValueError: bad row`);
  assert.equal(pre.querySelector('b'), null, 'kernel text never becomes markup');
  assert.match(logBox().querySelector('.nbpipe-preview-note')!.textContent!, /not every line/);
  // Under the outputs section, before the last error.
  const sections = Array.from(detail.querySelectorAll('.nbpipe-section-title')).map(e => e.textContent);
  assert.ok(sections.indexOf('Outputs') < sections.indexOf('Log of the last attempt (failed)'), sections.join(' | '));
  // The block's style (style/base.css): monospace, wraps at spaces, scrolls when long.
  const css = readFileSync(new URL('../../style/base.css', import.meta.url), 'utf8');
  const rule = /\.nbpipe-dag \.nbpipe-log-lines \{([^}]*)\}/.exec(css)?.[1] ?? '';
  for (const decl of ['white-space: pre-wrap', 'word-break: normal', 'overflow: auto', 'max-height:', 'monospace']) {
    assert.ok(rule.includes(decl), `${decl} in ${rule}`);
  }

  // No lines, no status; a malformed log shows nothing; an answer about another task changes nothing.
  reply('Report', { lines: [], truncated: false, status: '' });
  assert.equal(logBox().querySelector('.nbpipe-section-title')!.textContent, 'Log of the last attempt');
  assert.match(logBox().textContent!, /no lines/);
  reply('Report', { lines: 'one line', truncated: false, status: 'done' });
  assert.ok(logBox().hidden);
  reply('Extract(day=1)', { lines: ['other'], truncated: false, status: 'done' });
  assert.doesNotMatch(detail.textContent!, /other/);
  view.remove();
});
