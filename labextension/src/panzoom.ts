/**
 * Moving around the graph box: drag to pan (the box scrolls), "Fit width"
 * scaling, and scrolling a node into the middle of the box.
 */
import { DomListeners } from './dom.js';

interface IDrag {
  x: number;
  y: number;
  left: number;
  top: number;
  moved: boolean;
  pointerId: number;
}

/** Pointer travel (px) before a press becomes a drag rather than a click. */
const DRAG_THRESHOLD = 5;

export class PanZoom {
  private drag: IDrag | null = null;
  private suppressClick = false;

  constructor(private readonly box: HTMLElement, listeners: DomListeners) {
    listeners.bind<PointerEvent>(box, 'pointerdown', e => this.onPointerDown(e));
    listeners.bind<PointerEvent>(box, 'pointermove', e => this.onPointerMove(e));
    listeners.bind<PointerEvent>(box, 'pointerup', e => this.onPointerUp(e));
    listeners.bind<PointerEvent>(box, 'pointercancel', e => this.onPointerUp(e));
  }

  /**
   * True for the click that ends a drag (it is not a selection); call once
   * per click.
   */
  consumeClick(): boolean {
    const suppressed = this.suppressClick;
    this.suppressClick = false;
    return suppressed;
  }

  /** Scale the graph to the width of the box, or show it at its own size. */
  setFitWidth(fit: boolean): void {
    this.box.classList.toggle('nbpipe-fit', fit);
  }

  /** Scroll the box so that `el` is in its middle. */
  centre(el: Element): void {
    const box = this.box.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    this.box.scrollLeft += r.left + r.width / 2 - (box.left + box.width / 2);
    this.box.scrollTop += r.top + r.height / 2 - (box.top + box.height / 2);
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0 || e.pointerType === 'touch') {
      return;
    }
    // Leave the scrollbars and the resize handle alone.
    const box = this.box.getBoundingClientRect();
    if (
      e.clientX - box.left >= this.box.clientLeft + this.box.clientWidth ||
      e.clientY - box.top >= this.box.clientTop + this.box.clientHeight
    ) {
      return;
    }
    this.drag = {
      x: e.clientX,
      y: e.clientY,
      left: this.box.scrollLeft,
      top: this.box.scrollTop,
      moved: false,
      pointerId: e.pointerId
    };
  }

  private onPointerMove(e: PointerEvent): void {
    const d = this.drag;
    if (!d || e.pointerId !== d.pointerId) {
      return;
    }
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved) {
      if (Math.abs(dx) + Math.abs(dy) < DRAG_THRESHOLD) {
        return;
      }
      d.moved = true;
      this.box.classList.add('nbpipe-panning');
      try {
        this.box.setPointerCapture(d.pointerId);
      } catch {
        // pointer already gone
      }
    }
    this.box.scrollLeft = d.left - dx;
    this.box.scrollTop = d.top - dy;
  }

  private onPointerUp(e: PointerEvent): void {
    const d = this.drag;
    if (!d || e.pointerId !== d.pointerId) {
      return;
    }
    if (d.moved) {
      this.suppressClick = e.type === 'pointerup';
      this.box.classList.remove('nbpipe-panning');
      if (this.box.hasPointerCapture(d.pointerId)) {
        this.box.releasePointerCapture(d.pointerId);
      }
    }
    this.drag = null;
  }
}
