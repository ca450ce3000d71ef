/**
 * The legend: one item per state, in legend order, with its label, its
 * meaning (as the item's tooltip) and how many tasks are in it.
 */
import { STATES, StateCounts, stateLabel, stateMeaning } from './graph.js';
import { h, stateClass, swatch } from './dom.js';

export class Legend {
  readonly el: HTMLDivElement;
  private readonly counts = new Map<string, HTMLSpanElement>();
  private readonly items = new Map<string, HTMLSpanElement>();

  constructor() {
    this.el = h('div', 'nbpipe-legend');
    for (const s of STATES) {
      const item = h('span', `nbpipe-legend-item ${stateClass(s)}`);
      item.title = `${stateLabel(s)}: ${stateMeaning(s)}`;
      const count = h('span', 'nbpipe-legend-count', '0');
      item.append(swatch(s), h('span', 'nbpipe-legend-name', stateLabel(s)), count);
      this.counts.set(s, count);
      this.items.set(s, item);
      this.el.append(item);
    }
  }

  /** Show the number of tasks in each state; states with none are greyed. */
  update(counts: StateCounts): void {
    for (const [s, span] of this.counts) {
      const n = counts[s] ?? 0;
      span.textContent = String(n);
      this.items.get(s)?.classList.toggle('nbpipe-legend-zero', n === 0);
    }
  }
}
