/**
 * Actions: the buttons that send `{action, task_id?}` messages to the kernel,
 * and when each of them is enabled; and the detail panel's requests about a
 * task's outputs (`{action: "outputs" | "preview", task_id, index?}`).
 */
import { DomListeners, h } from './dom.js';

export type Action =
  | 'run'
  | 'invalidate'
  | 'invalidate_downstream'
  | 'run_all'
  | 'stop';

/** The custom message an action sends to the kernel. */
export type ActionMessage = { action: Action } | { action: Action; task_id: string };

/** Asks the kernel where each output of a task is (answered by an `outputs` event). */
export type OutputsMessage = { action: 'outputs'; task_id: string };

/** Asks the kernel for a size-capped preview of one output of a task (answered by a `preview` event). */
export type PreviewMessage = { action: 'preview'; task_id: string; index: number };

/** The messages the detail panel sends about a task's outputs. */
export type OutputMessage = OutputsMessage | PreviewMessage;

export function outputsMessage(taskId: string): OutputsMessage {
  return { action: 'outputs', task_id: taskId };
}

export function previewMessage(taskId: string, index: number): PreviewMessage {
  return { action: 'preview', task_id: taskId, index };
}

/** Actions that act on the selected task. */
const TASK_ACTIONS: ReadonlySet<Action> = new Set<Action>(['run', 'invalidate', 'invalidate_downstream']);

/**
 * The message for an action, or null when the action needs a selected task
 * and there is none.
 */
export function actionMessage(action: Action, selectedTask: string | null): ActionMessage | null {
  if (!TASK_ACTIONS.has(action)) {
    return { action };
  }
  return selectedTask === null ? null : { action, task_id: selectedTask };
}

/** Whether an action's button is enabled. */
export function actionEnabled(action: Action, running: boolean, taskSelected: boolean): boolean {
  switch (action) {
    case 'run':
    case 'invalidate':
    case 'invalidate_downstream':
      return taskSelected && !running;
    case 'run_all':
      return !running;
    case 'stop':
      return running;
  }
}

/** Every action button of one view (the same action may have several buttons). */
export class ActionButtons {
  private readonly buttons = new Map<HTMLButtonElement, Action>();

  constructor(
    private readonly listeners: DomListeners,
    private readonly onAction: (action: Action) => void
  ) {}

  /** A new `button.nbpipe-action-<action>[data-action=<action>]`. */
  button(label: string, action: Action, title: string): HTMLButtonElement {
    const b = h('button', `nbpipe-button nbpipe-action-${action}`, label);
    b.type = 'button';
    b.title = title;
    b.dataset.action = action;
    this.buttons.set(b, action);
    this.listeners.bind(b, 'click', () => this.onAction(action));
    return b;
  }

  update(running: boolean, taskSelected: boolean): void {
    for (const [b, action] of this.buttons) {
      b.disabled = !actionEnabled(action, running, taskSelected);
    }
  }
}
