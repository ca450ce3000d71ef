/**
 * The @hpcc-js/wasm-graphviz bundle as text, written into the build output
 * (lib/graphviz-source.js) by scripts/graphviz-source.mjs after tsc.
 */
/** The bundle's code without its final `export {…}` statement. */
export declare const GRAPHVIZ_SOURCE: string;
/** The bundle's local name of the Graphviz class. */
export declare const GRAPHVIZ_CLASS: string;
