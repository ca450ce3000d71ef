/**
 * Module resolution hook for the view tests: `@jupyter-widgets/base` (an ES
 * module tree that plain node cannot load, and which wants a widget manager
 * and a kernel) is replaced by the small stand-in in fake-widgets-base.ts.
 * Type checking still uses the real package's types.
 */
const STAND_IN = new URL('./fake-widgets-base.js', import.meta.url).href;

type Next = (specifier: string, context: unknown) => Promise<unknown>;

export async function resolve(
  specifier: string,
  context: unknown,
  next: Next
): Promise<unknown> {
  if (specifier === '@jupyter-widgets/base') {
    return { url: STAND_IN, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}
