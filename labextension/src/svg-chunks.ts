/**
 * A Graphviz SVG cut into pieces the page can take a few at a time: the
 * frame (the `<svg>` element and its top-level `g.graph` with the background,
 * but no nodes or edges) and the markup of each top-level node and edge group,
 * in document order. Putting 3 000 nodes into the page in one `innerHTML`
 * blocks the main thread for about half a second; in pieces, no task is long.
 */

export interface ISvgPieces {
  /** The SVG with an empty graph group: `<svg …><g class="graph" …>…</g></svg>`. */
  frame: string;
  /** Each node's or edge's `<g>` markup (with the comment Graphviz puts before the next one). */
  items: string[];
}

const ITEM_START = /<g id="[^"]*" class="(?:node|edge)\b/g;

/**
 * Cut Graphviz SVG markup (as layoutSvg returns it) into a frame and items.
 * Markup without node or edge groups comes back whole as the frame.
 */
export function cutSvg(svg: string): ISvgPieces {
  const starts: number[] = [];
  for (const m of svg.matchAll(ITEM_START)) {
    starts.push(m.index!);
  }
  if (starts.length === 0) {
    return { frame: svg, items: [] };
  }
  // Items end where the graph group closes: the last "</g>" before "</svg>".
  const close = svg.lastIndexOf('</g>', svg.lastIndexOf('</svg>'));
  const items: string[] = [];
  for (let i = 0; i < starts.length; i++) {
    items.push(svg.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : close));
  }
  return { frame: svg.slice(0, starts[0]) + svg.slice(close), items };
}
