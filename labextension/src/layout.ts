/**
 * DOT -> SVG with Graphviz compiled to WebAssembly (@hpcc-js/wasm-graphviz).
 *
 * The WASM module is loaded once, on first use, and reused by every widget
 * on the page. No DOM or widget imports here: the module also runs in plain
 * node, which is how the unit tests and the layout benchmark use it.
 */
import type { Graphviz } from '@hpcc-js/wasm-graphviz';

let loading: Promise<Graphviz> | null = null;

/**
 * The shared Graphviz instance. The library (about 0.8 MB with its inlined
 * WASM) is imported lazily, so JupyterLab only fetches it once a DAG widget
 * is shown. A failed load is retried on the next call.
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

/** Drop everything before the `<svg` element (prolog, doctype, comments). */
export function stripSvgProlog(svg: string): string {
  const at = svg.indexOf('<svg');
  return at > 0 ? svg.slice(at) : svg;
}

const NODE_GROUP = /<g\s+id="([^"]*)"\s+class="node"/g;

/**
 * The ids of the node groups (`<g class="node">`) of a Graphviz SVG, in
 * document order, with XML entities decoded.
 */
export function svgNodeIds(svg: string): string[] {
  const ids: string[] = [];
  for (const m of svg.matchAll(NODE_GROUP)) {
    ids.push(decodeXmlEntities(m[1]));
  }
  return ids;
}

export function decodeXmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    switch (e) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(
          e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
        );
    }
  });
}
