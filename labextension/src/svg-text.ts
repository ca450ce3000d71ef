/**
 * Reading Graphviz's SVG output as text: the prolog removed, the node ids
 * listed. No imports: the view's bundle and the node tests share it.
 */
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
