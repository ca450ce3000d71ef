/**
 * The pure parts of the view's modules: action messages and when buttons are
 * enabled, what gets laid out (collapsed or not), search matches on the shown
 * graph, and which node shows the selection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Action, actionEnabled, actionMessage } from '../src/actions.js';
import { AUTO_COLLAPSE_TASKS, planLayout, startsCollapsed, unchangedFamilies } from '../src/collapse.js';
import { familyNodeId } from '../src/graph.js';
import { selectedNodeId } from '../src/panel.js';
import { matchingNodeIds } from '../src/search.js';
import { makePipeline } from './fixtures.js';

test('actions send {action} or {action, task_id} to the kernel', () => {
  assert.deepEqual(actionMessage('run_all', null), { action: 'run_all' });
  assert.deepEqual(actionMessage('stop', 'T'), { action: 'stop' });
  for (const a of ['run', 'invalidate', 'invalidate_downstream'] as Action[]) {
    assert.deepEqual(actionMessage(a, 'T'), { action: a, task_id: 'T' });
    assert.equal(actionMessage(a, null), null, `${a} needs a task`);
  }
});

test('which buttons are enabled', () => {
  const table: [Action, boolean, boolean, boolean][] = [
    // action, running, task selected, enabled
    ['run', false, true, true],
    ['run', false, false, false],
    ['run', true, true, false],
    ['invalidate_downstream', false, true, true],
    ['run_all', false, false, true],
    ['run_all', true, false, false],
    ['stop', false, true, false],
    ['stop', true, false, true]
  ];
  for (const [a, running, task, enabled] of table) {
    assert.equal(actionEnabled(a, running, task), enabled, `${a} running=${running} task=${task}`);
  }
});

test('layout plan: the DOT itself, or the family graph when collapsed', () => {
  const p = makePipeline(30, 3);
  const data = { dot: p.dot, nodes: p.nodes, edges: p.edges, states: {} };
  const full = planLayout(false, data);
  assert.equal(full.mode, 'tasks');
  assert.equal(full.dot, p.dot);
  assert.equal(full.key, p.dot);
  const fam = planLayout(true, data);
  assert.equal(fam.mode, 'families');
  assert.equal(fam.families.size, 3);
  assert.match(fam.dot, /^digraph nbpipe_families/);
  assert.equal(planLayout(true, { ...data, nodes: {} }).dot, '', 'nothing to collapse');

  // A state change keeps the collapsed shape; a new family does not.
  assert.ok(unchangedFamilies({ ...data, states: { [p.ids[0]]: 'ran' } }, 'families', fam.key));
  assert.equal(unchangedFamilies(data, 'tasks', fam.key), null);
  const more = { ...data, nodes: { ...p.nodes, 'New(1)': { family: 'New' } } };
  assert.equal(unchangedFamilies(more, 'families', fam.key), null);

  assert.ok(!startsCollapsed(AUTO_COLLAPSE_TASKS));
  assert.ok(startsCollapsed(AUTO_COLLAPSE_TASKS + 1));
});

test('search on the shown graph: task nodes, or the families of matching tasks', () => {
  const nodes = { 'A(1)': { family: 'A' }, 'A(2)': { family: 'A' }, 'B(1)': { family: 'B' } };
  assert.equal(matchingNodeIds('tasks', nodes, ' ', Object.keys(nodes)), null);
  assert.deepEqual([...matchingNodeIds('tasks', nodes, '(2)', Object.keys(nodes))!], ['A(2)']);
  assert.deepEqual([...matchingNodeIds('families', nodes, '(1)', [])!].sort(), [familyNodeId('A'), familyNodeId('B')]);
});

test('the node that shows the selection', () => {
  const nodes = { 'A(1)': { family: 'A' } };
  assert.equal(selectedNodeId(null, 'tasks', nodes), null);
  assert.equal(selectedNodeId({ kind: 'task', id: 'A(1)' }, 'tasks', nodes), 'A(1)');
  assert.equal(selectedNodeId({ kind: 'task', id: 'A(1)' }, 'families', nodes), familyNodeId('A'));
  assert.equal(selectedNodeId({ kind: 'family', id: 'A' }, 'families', nodes), familyNodeId('A'));
  assert.equal(selectedNodeId({ kind: 'family', id: 'A' }, 'tasks', nodes), null);
});
