/**
 * Live states as deltas: during a run the kernel sends only what changed,
 * `{event: "states", states: {id: state}, details: {id: {...}}}`, and the page
 * lays it over its copy of the `states` and `details` traits (the kernel keeps
 * its own copy current without re-sending it whole ten times a second, which
 * kept the page's main thread busy at 10 000 tasks). A change of the traits
 * themselves (a refresh, the end of a run) replaces the copy as before.
 *
 * The copy is updated in place and announced with one `LIVE_DELTA` event:
 * copying 10 000 entries and Backbone's deep comparison of old and new cost
 * tens of milliseconds per batch, the delta itself almost nothing.
 */
import { ITaskInfo, StateMap } from './graph.js';

export interface IStatesDelta {
  event: 'states';
  states?: StateMap;
  details?: { [taskId: string]: Partial<ITaskInfo> };
}

/** Fired on the model after a delta was laid over `states`/`details`, with the delta. */
export const LIVE_DELTA = 'nbpipe:states-delta';

/** The part of a widget model used here. */
export interface IDeltaTarget {
  get(key: string): unknown;
  set(values: { [key: string]: unknown }): unknown;
  trigger(event: string, ...args: unknown[]): unknown;
}

export function isStatesDelta(content: unknown): content is IStatesDelta {
  return typeof content === 'object' && content !== null && (content as { event?: unknown }).event === 'states';
}

/**
 * Lay a delta over the model's `states` and `details` in place, then fire
 * LIVE_DELTA (views re-read both and recolour; nothing is laid out again).
 */
export function applyStatesDelta(model: IDeltaTarget, delta: IStatesDelta): void {
  const fresh: { [key: string]: unknown } = {};
  for (const key of ['states', 'details'] as const) {
    const changes = delta[key];
    if (!changes || Object.keys(changes).length === 0) {
      continue;
    }
    const current = model.get(key);
    if (current && typeof current === 'object') {
      Object.assign(current, changes);
    } else {
      fresh[key] = { ...changes };
    }
  }
  if (Object.keys(fresh).length > 0) {
    model.set(fresh);
  }
  model.trigger(LIVE_DELTA, delta);
}

/** Deltas already applied: every view of a model hears the same message object. */
const APPLIED = new WeakSet<object>();

/**
 * Each view calls this with the model's custom messages: a delta is applied
 * to the model once, whichever view hears it first (the others then hear the
 * ordinary change events). Returns whether the message was a delta.
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
