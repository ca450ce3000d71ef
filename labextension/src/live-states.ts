/**
 * Live states as deltas: during a run the kernel sends only what changed,
 * `{event: "states", states: {id: state}, details: {id: {...}}}`, and the page
 * lays it over its copy of the `states` and `details` traits (the kernel keeps
 * its own copy current without re-sending it whole ten times a second, which
 * kept the page's main thread busy at 10 000 tasks). A change of the traits
 * themselves (a refresh, the end of a run) replaces the copy as before.
 *
 * The copy is updated in place, once per model whichever view hears the
 * message first; every view hears the same message and recolours itself:
 * copying 10 000 entries and Backbone's deep comparison of old and new cost
 * tens of milliseconds per batch, the delta itself almost nothing.
 */
import { ITaskInfo, StateMap } from './graph.js';

export interface IStatesDelta {
  event: 'states';
  states?: StateMap;
  details?: { [taskId: string]: Partial<ITaskInfo> };
}

/** The part of a widget model used here (anywidget's model interface). */
export interface IDeltaTarget {
  get(key: string): unknown;
  set(key: string, value: unknown): unknown;
}

export function isStatesDelta(content: unknown): content is IStatesDelta {
  return typeof content === 'object' && content !== null && (content as { event?: unknown }).event === 'states';
}

/**
 * Lay a delta over the model's `states` and `details` in place (views then
 * re-read both and recolour; nothing is laid out again).
 */
export function applyStatesDelta(model: IDeltaTarget, delta: IStatesDelta): void {
  for (const key of ['states', 'details'] as const) {
    const changes = delta[key];
    if (!changes || Object.keys(changes).length === 0) {
      continue;
    }
    const current = model.get(key);
    if (current && typeof current === 'object') {
      Object.assign(current, changes);
    } else {
      model.set(key, { ...changes });
    }
  }
}

/** Deltas already applied: every view of a model hears the same message object. */
const APPLIED = new WeakSet<object>();

/**
 * Each view calls this with the model's custom messages: a delta is applied
 * to the model once, whichever view hears it first. Returns whether the
 * message was a delta (then every view recolours from the model).
 */
export function takeStatesDelta(model: IDeltaTarget, content: unknown): boolean {
  if (!isStatesDelta(content)) {
    return false;
  }
  if (!APPLIED.has(content)) {
    APPLIED.add(content);
    applyStatesDelta(model, content);
  }
  return true;
}
