/**
 * DOT -> SVG with Graphviz compiled to WebAssembly, loaded from the npm
 * package @hpcc-js/wasm-graphviz: for plain node (the unit tests and the
 * layout benchmark). The widget's bundle never imports this module — in a
 * page, Graphviz arrives once per kernel from the shared layout-engine model
 * (layout-client.ts), not inside every widget's code.
 */
import type { Graphviz } from '@hpcc-js/wasm-graphviz';

import { stripSvgProlog } from './svg-text.js';

export { decodeXmlEntities, stripSvgProlog, svgNodeIds } from './svg-text.js';

let loading: Promise<Graphviz> | null = null;

/**
 * The shared Graphviz instance, loaded on first use. A failed load is
 * retried on the next call.
 */
export function loadGraphviz(): Promise<Graphviz> {
  if (loading === null) {
    const p = import('@hpcc-js/wasm-graphviz').then(m => m.Graphviz.load());
    loading = p;
    p.catch(() => {
      if (loading === p) {
        loading = null;
      }
    });
  }
  return loading;
}

/** The Graphviz version, e.g. "16.1.0". */
export async function graphvizVersion(): Promise<string> {
  return (await loadGraphviz()).version();
}

/**
 * Lay out DOT source with the `dot` engine and return SVG markup (with the
 * XML prolog and doctype removed, ready for `innerHTML`).
 * Throws an Error carrying Graphviz's message when the DOT is invalid.
 */
export async function layoutDot(dot: string): Promise<string> {
  const hit = recent.get(dot);
  if (hit !== undefined) {
    recent.delete(dot); // most recently used goes last
    recent.set(dot, hit);
    return hit;
  }
  const gv = await loadGraphviz();
  const svg = stripSvgProlog(gv.dot(dot, 'svg'));
  recent.set(dot, svg);
  while (recent.size > RECENT_LAYOUTS) {
    recent.delete(recent.keys().next().value as string);
  }
  return svg;
}

/**
 * The last few layouts, so that switching between the full and the collapsed
 * graph (or two widgets showing the same DOT) does not lay out again.
 */
const RECENT_LAYOUTS = 4;
const recent = new Map<string, string>();
