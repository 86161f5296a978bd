import { Observable, type OperatorFunction } from 'rxjs';
import { parseDuration, type Duration } from '../duration.ts';
import { RtmlError } from '../errors.ts';
import { callerLocation } from '../location.ts';
import { isWindowSpec, type WindowSpec } from '../windowSpecs.ts';
import type { Keyed } from './keyBy.ts';

export interface WindowOptions {
  /** How long a window is kept after its end for late events (default 0). */
  lateness?: Duration;
  /** The sink that receives events too late for all their windows (default: counted and dropped). */
  late?: string;
  /** 'final' (default): one result when the watermark passes the end; 'update': also after every event. */
  emit?: 'final' | 'update';
}

export interface ResolvedWindowOptions {
  readonly lateness: number;
  readonly late: string | undefined;
  readonly emit: 'final' | 'update';
}

declare const windowed: unique symbol;

/** A stream cut into windows: only `aggregate(...)` can follow it (the type says so too). */
export type Windowed<T> = T & { readonly [windowed]: true };

/**
 * The stream between `window()` and `aggregate()`. It carries the window spec to `aggregate`,
 * which does the keyed, stateful work; subscribed to on its own it fails with a clear message.
 */
export class WindowedObservable<T> extends Observable<Windowed<T>> {
  constructor(
    readonly upstream: Observable<T>,
    readonly spec: WindowSpec,
    readonly options: ResolvedWindowOptions,
    readonly at: string,
  ) {
    super((subscriber) => {
      subscriber.error(new RtmlError('RTML_E_OPERATOR', `window() at ${at} must be followed directly by aggregate({...})`));
    });
  }
}

/**
 * Cuts a keyed stream into event-time windows: `tumbling(size)`, `hopping(size, advance)` or
 * `session(gap)`. Follow it with `aggregate({...})`.
 *
 * ```ts
 * keyBy('card_id'), window(hopping('60s', '20s'), { lateness: '30s', late: 'late' }), aggregate({ n: count() })
 * ```
 */
export function window<T>(spec: WindowSpec, options: WindowOptions = {}): OperatorFunction<Keyed<T>, Windowed<T>> {
  const at = callerLocation();
  if (!isWindowSpec(spec)) {
    throw new RtmlError('RTML_E_WINDOW', `window() at ${at} needs tumbling(size), hopping(size, advance) or session(gap), got ${JSON.stringify(spec)}`);
  }
  const known = new Set(['lateness', 'late', 'emit']);
  for (const name of Object.keys(options)) {
    if (!known.has(name)) throw new RtmlError('RTML_E_WINDOW', `window() at ${at}: unknown option '${name}' (options: lateness, late, emit)`);
  }
  const emit = options.emit ?? 'final';
  if (emit !== 'final' && emit !== 'update') {
    throw new RtmlError('RTML_E_WINDOW', `window() at ${at}: emit must be 'final' or 'update', got ${JSON.stringify(options.emit)}`);
  }
  if (options.late !== undefined && (typeof options.late !== 'string' || options.late === '')) {
    throw new RtmlError('RTML_E_WINDOW', `window() at ${at}: late must name a sink, got ${JSON.stringify(options.late)}`);
  }
  const resolved: ResolvedWindowOptions = Object.freeze({
    lateness: parseDuration(options.lateness ?? 0, 'window() lateness', at),
    late: options.late,
    emit,
  });
  return (source) => new WindowedObservable(source, spec, resolved, at);
}
