/**
 * Layout off the main thread, with Graphviz sent once per kernel.
 *
 * The Graphviz bundle (@hpcc-js/wasm-graphviz, WASM inlined, ~0.8 MB) is not
 * part of the widget's code: the kernel sends it once, as a trait of one
 * shared layout-engine model that every DAG widget references (engine.ts).
 * A `LayoutService` is made from that code, one per engine model, so one per
 * page and kernel: it starts one Web Worker from a Blob URL of the code (no
 * worker file, so no front end needs a route for one), caches layouts by the
 * digest of their DOT for every widget on the page, and makes a request for
 * a layout under way wait for that one.
 *
 * When a worker cannot be created (no Worker, a Content-Security-Policy
 * without blob:, a failed start) layout falls back to Graphviz on the main
 * thread, from the same code; `engine` tells which one served the last layout.
 */
import { graphDigest } from './digest.js';
import { LayoutReply, serveLayouts } from './layout-worker.js';
import { stripSvgProlog } from './svg-text.js';

export type LayoutEngine = 'worker' | 'main-thread';

/** The Graphviz bundle as the kernel sends it: its code without the final `export`, and its class's local name. */
export interface IGraphvizCode {
  source: string;
  className: string;
}

/** The part of a loaded Graphviz instance used here. */
export interface IGraphviz {
  dot(dot: string, format: 'svg'): string;
}

/** Layouts kept: the full and collapsed graph of a few widgets, with an expanded family or two. */
const CACHED_LAYOUTS = 8;

export class LayoutService {
  /** Which engine served the last layout (null before the first). */
  engine: LayoutEngine | null = null;
  private readonly cache = new Map<string, Promise<string>>();
  private client: Promise<WorkerClient | null> | null = null;
  private mainThread: Promise<IGraphviz> | null = null;

  /**
   * `code` gives the Graphviz bundle (asked for once, when the first layout
   * is needed); `loadOnMainThread` loads Graphviz in this thread when no
   * worker can run (by default from the same code, see importGraphviz).
   */
  constructor(
    private readonly code: () => Promise<IGraphvizCode>,
    private readonly loadOnMainThread: () => Promise<IGraphviz> = () => code().then(importGraphviz)
  ) {}

  /**
   * SVG markup (prolog removed) of the `dot` layout of `dot`, from the cache,
   * the worker, or — when no worker can run — the main thread. `shape`
   * identifies the layout for the cache when the DOT carries more than its
   * shape (the collapsed graph's labels carry counts the view repaints in place).
   * Rejects with Graphviz's message when the DOT is invalid.
   */
  layoutSvg(dot: string, shape: string = dot): Promise<string> {
    const key = graphDigest(shape);
    const cache = this.cache;
    const hit = cache.get(key);
    if (hit !== undefined) {
      cache.delete(key); // most recently used goes last
      cache.set(key, hit);
      return hit;
    }
    const p = this.computeLayout(dot);
    cache.set(key, p);
    p.catch(() => cache.get(key) === p && cache.delete(key));
    while (cache.size > CACHED_LAYOUTS) {
      cache.delete(cache.keys().next().value as string);
    }
    return p;
  }

  private async computeLayout(dot: string): Promise<string> {
    const worker = await this.layoutWorker();
    if (worker !== null) {
      try {
        const svg = await worker.layout(dot);
        this.engine = 'worker';
        return svg;
      } catch (err) {
        if (!(err instanceof WorkerFailed)) {
          throw err; // Graphviz's own error: the main thread would say the same
        }
        this.client = Promise.resolve(null); // the worker died: the main thread from now on
      }
    }
    if (this.mainThread === null) {
      const p = this.loadOnMainThread();
      this.mainThread = p;
      p.catch(() => this.mainThread === p && (this.mainThread = null)); // retried on the next layout
    }
    const svg = stripSvgProlog((await this.mainThread).dot(dot, 'svg'));
    this.engine = 'main-thread';
    return svg;
  }

  /** The page's layout worker, started on first use; null when none can run. */
  private layoutWorker(): Promise<WorkerClient | null> {
    if (this.client === null) {
      this.client = this.code()
        .then(c => WorkerClient.start(c.source, c.className))
        .catch(() => null);
    }
    return this.client;
  }
}

/**
 * Graphviz loaded in this thread from the kernel's code, as an ES module from
 * a Blob URL (the way anywidget itself loads a widget's code, so it works
 * wherever the widget does).
 */
export async function importGraphviz(code: IGraphvizCode): Promise<IGraphviz> {
  const module = `${code.source}\nexport { ${code.className} as Graphviz };\n`;
  const url = URL.createObjectURL(new Blob([module], { type: 'text/javascript' }));
  try {
    const m = (await import(/* webpackIgnore: true */ /* @vite-ignore */ url)) as {
      Graphviz: { load(): Promise<IGraphviz> };
    };
    return await m.Graphviz.load();
  } finally {
    URL.revokeObjectURL(url);
  }
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
