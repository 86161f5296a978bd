import type { Observable } from 'rxjs';

/**
 * The fields every value of a stream is known to have, where an operator knows them at build time:
 * aggregate() marks its results `{ key, window_start, window_end, <aggregate names> }`, operators
 * that pass values on unchanged (sink(), materialize()) keep the mark, and materialize() checks a
 * feature view's fields against it at start. Plain rxjs operators (a `map`, and also a `filter`: the
 * two look alike in an rxjs chain) drop it: the shape is then unknown and only checked per result.
 */
export interface KnownShape {
  readonly fields: readonly string[];
  /** The operator that gives the values this shape, with its place: "aggregate() at file:line:col". */
  readonly by: string;
}

// Symbol.for: the mark stays visible should the engine be loaded twice (a topology importing 'rtml' by another path).
const SHAPE = Symbol.for('rtml.shape');

/** Marks `stream` as carrying values of `shape`; returns it. */
export function markShape<S extends Observable<unknown>>(stream: S, shape: KnownShape | undefined): S {
  if (shape !== undefined) Object.defineProperty(stream, SHAPE, { value: shape, enumerable: false });
  return stream;
}

/** The shape `stream` was marked with, if any. */
export function shapeOf(stream: Observable<unknown>): KnownShape | undefined {
  return (stream as { [SHAPE]?: KnownShape })[SHAPE];
}
