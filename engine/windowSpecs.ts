import { parseDuration, type Duration } from './duration.ts';
import { RtmlError } from './errors.ts';
import { callerLocation } from './location.ts';

/**
 * Window specifications: small immutable values, validated when built. Windows are half-open
 * `[start, end)` in event time, per key (docs/semantics.md).
 */

/** `start = floor(t / size) * size`, `end = start + size`. */
export interface TumblingWindow {
  readonly kind: 'tumbling';
  readonly size: number;
  readonly advance: number;
}

/** Every `start = k * advance` with `start <= t < start + size`. */
export interface HoppingWindow {
  readonly kind: 'hopping';
  readonly size: number;
  readonly advance: number;
}

/** Each event opens `[t, t + gap)`; windows of a key that intersect merge (touching ones do not). */
export interface SessionWindow {
  readonly kind: 'session';
  readonly gap: number;
}

export type WindowSpec = TumblingWindow | HoppingWindow | SessionWindow;

function positive(value: Duration, what: string, at: string): number {
  const ms = parseDuration(value, what, at);
  if (ms <= 0) throw new RtmlError('RTML_E_WINDOW', `${what} must be greater than 0, got ${JSON.stringify(value)} at ${at}`);
  return ms;
}

export function tumbling(size: Duration): TumblingWindow {
  const at = callerLocation();
  const ms = positive(size, 'tumbling() size', at);
  return Object.freeze({ kind: 'tumbling', size: ms, advance: ms });
}

export function hopping(size: Duration, advance: Duration): HoppingWindow {
  const at = callerLocation();
  const sizeMs = positive(size, 'hopping() size', at);
  const advanceMs = positive(advance, 'hopping() advance', at);
  if (advanceMs > sizeMs) {
    throw new RtmlError('RTML_E_WINDOW', `hopping() advance (${advanceMs} ms) must not exceed its size (${sizeMs} ms) at ${at}`);
  }
  return Object.freeze({ kind: 'hopping', size: sizeMs, advance: advanceMs });
}

export function session(gap: Duration): SessionWindow {
  const at = callerLocation();
  return Object.freeze({ kind: 'session', gap: positive(gap, 'session() gap', at) });
}

export function isWindowSpec(value: unknown): value is WindowSpec {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return kind === 'tumbling' || kind === 'hopping' || kind === 'session';
}
