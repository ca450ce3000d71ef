/**
 * Synthetic pipelines shaped like the DOT the Python side sends: every node
 * has `id`, `label` and `tooltip`; edges go from a requirement to the task
 * that requires it; rankdir=LR.
 */
import { Edge, NodeMap, dotQuote } from '../src/graph.js';

export interface IPipeline {
  dot: string;
  nodes: NodeMap;
  edges: Edge[];
  ids: string[];
}

/** Small deterministic PRNG (mulberry32), so fixtures are stable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` tasks in `families` families; each task after the first few requires
 * one to three earlier tasks, mostly recent ones (a layered, wide DAG).
 */
export function makePipeline(n: number, families = 12, seed = 42): IPipeline {
  const rand = rng(seed);
  const ids: string[] = [];
  const nodes: NodeMap = {};
  const edges: Edge[] = [];
  for (let i = 0; i < n; i++) {
    const fam = `Family${i % families}`;
    const id = `${fam}(date=2024-01-${String((i % 28) + 1).padStart(2, '0')}, part=${i})`;
    ids.push(id);
    nodes[id] = {
      label: `${fam}\npart=${i}`,
      family: fam,
      params: { date: `2024-01-${String((i % 28) + 1).padStart(2, '0')}`, part: i },
      state: 'not_built',
      reasons: ['output missing'],
      outputs: [`/data/${fam}/${i}.parquet`],
      duration: null,
      error: null,
      traceback: null
    };
    if (i >= 3) {
      const k = 1 + Math.floor(rand() * 3);
      const seen = new Set<number>();
      for (let j = 0; j < k; j++) {
        const back = 1 + Math.floor(rand() * Math.min(i, 40));
        const req = i - back;
        if (!seen.has(req)) {
          seen.add(req);
          edges.push([ids[req], id]);
        }
      }
    }
  }
  const lines = [
    'digraph pipeline {',
    '  rankdir=LR;',
    '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="sans-serif", fontsize=10];'
  ];
  for (const id of ids) {
    lines.push(
      `  ${dotQuote(id)} [id=${dotQuote(id)}, label=${dotQuote(nodes[id].label!)}, tooltip=${dotQuote(id)}];`
    );
  }
  for (const [a, b] of edges) {
    lines.push(`  ${dotQuote(a)} -> ${dotQuote(b)};`);
  }
  lines.push('}');
  return { dot: lines.join('\n'), nodes, edges, ids };
}
