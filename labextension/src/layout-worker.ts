/**
 * The code the layout Web Worker runs: it answers `{id, dot}` requests with
 * `{id, svg}` (Graphviz `dot` engine, SVG without its prolog) or
 * `{id, error}`.
 *
 * `serveLayouts` is sent to the worker as text (Function.prototype.toString,
 * see layout-client.ts), after the Graphviz bundle, so its body must refer to
 * nothing but its parameters and the worker's globals.
 */

/** A layout request, main thread -> worker. */
export interface ILayoutRequest {
  id: number;
  dot: string;
}

/**
 * A layout answer, worker -> main thread; `fatal` when Graphviz could not be
 * loaded in the worker (the main thread should lay out instead).
 */
export type LayoutReply = { id: number; svg: string } | { id: number; error: string; fatal?: boolean };

/** The part of the worker's global scope used here (also a fake one in tests). */
export interface ILayoutScope {
  onmessage: ((e: { data: ILayoutRequest }) => void) | null;
  postMessage(reply: LayoutReply): void;
}

/** The part of the Graphviz class used here. */
export interface IGraphvizClass {
  load(): Promise<{ dot(dot: string, format: 'svg'): string }>;
}

export function serveLayouts(scope: ILayoutScope, graphviz: IGraphvizClass): void {
  const ready = graphviz.load();
  const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err)) || 'Graphviz failed';
  scope.onmessage = e => {
    const id = e.data.id;
    const dot = e.data.dot;
    ready.then(
      gv => {
        let svg: string;
        try {
          svg = gv.dot(dot, 'svg');
        } catch (err) {
          scope.postMessage({ id, error: messageOf(err) });
          return;
        }
        const at = svg.indexOf('<svg');
        scope.postMessage({ id, svg: at > 0 ? svg.slice(at) : svg });
      },
      (err: unknown) => scope.postMessage({ id, error: messageOf(err), fatal: true })
    );
  };
}
