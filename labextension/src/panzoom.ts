/**
 * Moving around the graph box: drag to pan (the box scrolls), zoom (the
 * buttons, or Ctrl/⌘ + wheel), fit-to-view (the whole graph in the box's
 * width and maximum height), "Fit width" scaling, and bringing a node into
 * view.
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

const MIN_ZOOM = 0.05;
const MAX_ZOOM = 4;
/** Room (px) the SVG host's padding takes around the graph. */
const HOST_PADDING = 14;

/** An SVG length attribute ("120pt", "90px", "64") in CSS pixels, or null. */
export function cssPixels(value: string | null): number | null {
  const m = /^\s*([\d.]+)\s*(pt|px)?\s*$/.exec(value ?? '');
  if (!m) {
    return null;
  }
  const n = parseFloat(m[1]);
  return m[2] === 'pt' ? (n * 4) / 3 : n;
}

export class PanZoom {
  private drag: IDrag | null = null;
  private suppressClick = false;
  private svg: SVGSVGElement | null = null;
  /** The SVG's own size in CSS pixels (Graphviz writes it in points). */
  private natural: { w: number; h: number } | null = null;
  private zoom = 1;
  /** The person zoomed (buttons, wheel, Fit): new layouts keep their zoom instead of fitting. */
  private touched = false;

  constructor(private readonly box: HTMLElement, listeners: DomListeners) {
    // Not passive: Ctrl/⌘ + wheel zooms the graph instead of the page.
    listeners.bind<WheelEvent>(box, 'wheel', e => this.onWheel(e), { passive: false });
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

  /** The zoom factor (1: the graph at its own size). */
  get scale(): number {
    return this.zoom;
  }

  /** A new SVG is on screen: learn its own size and show it at the current zoom. */
  attach(svg: SVGSVGElement | null): void {
    this.svg = svg;
    const w = cssPixels(svg?.getAttribute('width') ?? null);
    const h = cssPixels(svg?.getAttribute('height') ?? null);
    this.natural = w && h ? { w, h } : null;
    if (!this.touched) {
      this.zoom = 1;
    }
    this.apply();
  }

  zoomBy(factor: number): void {
    this.touched = true;
    this.setZoom(this.zoom * factor);
  }

  setZoom(zoom: number): void {
    this.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
    this.apply();
  }

  /** Zoom so the whole graph shows in the box's width and its maximum height (never above its own size). */
  fitToView(): void {
    const n = this.natural;
    if (!n) {
      return;
    }
    const maxHeight = parseFloat(window.getComputedStyle(this.box).maxHeight);
    const height = Number.isFinite(maxHeight) && maxHeight > 0 ? maxHeight : 560;
    const width = this.box.clientWidth > 0 ? this.box.clientWidth : n.w;
    this.box.classList.remove('nbpipe-fit');
    this.touched = true;
    this.setZoom(Math.min(1, (width - HOST_PADDING) / n.w, (height - HOST_PADDING) / n.h));
  }

  /**
   * A new graph wider than the box, while the person has not zoomed: zoom out to fit its width, but not
   * below `minZoom` (a larger graph stays readable and scrolls).
   */
  fitWidthIfWider(minZoom: number): void {
    const n = this.natural;
    const width = this.box.clientWidth - HOST_PADDING;
    if (!this.touched && n && width > 0 && n.w * this.zoom > width) {
      this.setZoom(Math.max(minZoom, width / n.w));
    }
  }

  private apply(): void {
    const n = this.natural;
    if (this.svg && n) {
      this.svg.setAttribute('width', `${(n.w * this.zoom).toFixed(1)}px`);
      this.svg.setAttribute('height', `${(n.h * this.zoom).toFixed(1)}px`);
    }
  }

  private onWheel(e: WheelEvent): void {
    if (!(e.ctrlKey || e.metaKey) || !this.natural) {
      return;
    }
    e.preventDefault();
    this.zoomBy(e.deltaY < 0 ? 1.1 : 1 / 1.1);
  }

  /** Scroll the box the least that shows all of `el` (centring it when it is larger than the box). */
  ensureVisible(el: Element): void {
    const box = this.box.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    if (r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom) {
      return;
    }
    this.centre(el);
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
