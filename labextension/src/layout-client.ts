/**
 * Layout off the main thread: one Web Worker per page runs Graphviz (see
 * layout-worker.ts), started from a Blob URL of inlined code, so no front end
 * (JupyterLab, Notebook 7, Voilà) needs a route for a worker file. Layouts
 * are cached by the digest of their DOT and shared by every widget on the
 * page; a request for a layout under way waits for that one.
 *
 * When a worker cannot be created (no Worker, a Content-Security-Policy
 * without blob:, a failed start) layout falls back to Graphviz on the main
 * thread (layout.ts); `layoutEngine()` tells which one served the last layout.
 */
import { graphDigest } from './digest.js';
import { layoutDot } from './layout.js';
import { LayoutReply, serveLayouts } from './layout-worker.js';

export type LayoutEngine = 'worker' | 'main-thread';

/** Layouts kept: the full and collapsed graph of a few widgets, with an expanded family or two. */
const CACHED_LAYOUTS = 8;
const cache = new Map<string, Promise<string>>();

let engine: LayoutEngine | null = null;
let client: Promise<WorkerClient | null> | null = null;

/** Which engine served the last layout (null before the first). */
export function layoutEngine(): LayoutEngine | null {
  return engine;
}

/**
 * SVG markup (prolog removed) of the `dot` layout of `dot`, from the cache,
 * the worker, or — when no worker can run — the main thread. `shape`
 * identifies the layout for the cache when the DOT carries more than its
 * shape (the collapsed graph's labels carry counts the view repaints in place).
 * Rejects with Graphviz's message when the DOT is invalid.
 */
export function layoutSvg(dot: string, shape: string = dot): Promise<string> {
  const key = graphDigest(shape);
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key); // most recently used goes last
    cache.set(key, hit);
    return hit;
  }
  const p = computeLayout(dot);
  cache.set(key, p);
  p.catch(() => cache.get(key) === p && cache.delete(key));
  while (cache.size > CACHED_LAYOUTS) {
    cache.delete(cache.keys().next().value as string);
  }
  return p;
}

async function computeLayout(dot: string): Promise<string> {
  const worker = await layoutWorker();
  if (worker !== null) {
    try {
      const svg = await worker.layout(dot);
      engine = 'worker';
      return svg;
    } catch (err) {
      if (!(err instanceof WorkerFailed)) {
        throw err; // Graphviz's own error: the main thread would say the same
      }
      client = Promise.resolve(null); // the worker died: the main thread from now on
    }
  }
  const svg = await layoutDot(dot);
  engine = 'main-thread';
  return svg;
}

/** The page's layout worker, started on first use; null when none can run. */
function layoutWorker(): Promise<WorkerClient | null> {
  if (client === null) {
    client = import('./graphviz-source.js')
      .then(m => WorkerClient.start(m.GRAPHVIZ_SOURCE, m.GRAPHVIZ_CLASS))
      .catch(() => null);
  }
  return client;
}

/** The worker could not answer (it failed to start or crashed), as opposed to Graphviz refusing the DOT. */
class WorkerFailed extends Error {}

class WorkerClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(svg: string): void; reject(err: Error): void }>();

  private constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<LayoutReply>) => {
      const reply = e.data;
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ('svg' in reply) {
        waiter?.resolve(reply.svg);
      } else if (reply.fatal) {
        waiter?.reject(new WorkerFailed(reply.error));
        this.failAll(reply.error); // Graphviz cannot load there: no later request can succeed either
      } else {
        waiter?.reject(new Error(reply.error));
      }
    };
    worker.onerror = e => {
      e.preventDefault();
      this.failAll(`the layout worker failed: ${e.message || 'no message'}`);
    };
  }

  /** Null when this page cannot create a worker from a Blob URL. */
  static start(graphvizSource: string, graphvizClass: string): WorkerClient | null {
    if (typeof Worker === 'undefined' || typeof Blob === 'undefined' || typeof URL.createObjectURL !== 'function') {
      return null;
    }
    const code =
      `"use strict";(function(){${graphvizSource}\n;(${serveLayouts.toString()})(self, ${graphvizClass});})();`;
    const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
    try {
      return new WorkerClient(new Worker(url, { name: 'nbpipe-layout' }));
    } catch {
      return null; // e.g. a Content-Security-Policy without worker-src blob:
    } finally {
      // The worker has fetched its script once created (the fetch is started synchronously).
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    }
  }

  layout(dot: string): Promise<string> {
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, dot });
    });
  }

  private failAll(message: string): void {
    for (const waiter of this.pending.values()) {
      waiter.reject(new WorkerFailed(message));
    }
    this.pending.clear();
    this.worker.terminate();
  }
}
