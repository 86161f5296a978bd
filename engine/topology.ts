import type { MonoTypeOperatorFunction, Observable } from 'rxjs';
import type { Duration } from './duration.ts';
import { RtmlError } from './errors.ts';
import { callerLocation } from './location.ts';

export interface SourceOptions<T> {
  /** Avro schema: a .avsc path (beside the topology file, else in the working directory) or an inline schema object; events are validated against it. */
  schema?: string | object;
  /** The event time: a field holding epoch ms (or an Avro timestamp-millis/-micros), or a function. */
  time: string | ((event: T) => number);
  /** Bounded out-of-orderness: the watermark trails the highest event time by this much (default 0). */
  outOfOrder?: Duration;
  /** A partition idle this long (processing time) is left out of the watermark (default: never). */
  idleTimeout?: Duration;
}

export interface TopologyBuilder {
  /** A named input stream, bound on the command line with `--source NAME=URI`. */
  source<T = Record<string, unknown>>(name: string, options: SourceOptions<T>): Observable<T>;
  /** Writes every value to the named sink (`--sink NAME=URI`) and passes it on. */
  sink<T>(name: string): MonoTypeOperatorFunction<T>;
}

/** What a build function returns: the stream, or streams, whose values end in sinks. */
export type TopologyOutput = Observable<unknown> | readonly Observable<unknown>[];

export interface Topology {
  readonly name: string;
  readonly build: (builder: TopologyBuilder) => TopologyOutput;
  /** Where it was defined. */
  readonly at: string;
}

export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/**
 * Declares a topology: a name and a build function wiring sources through operators to sinks.
 * The default export of a topology file; `rtml run` binds its sources and sinks to URIs.
 */
export function defineTopology(name: string, build: (builder: TopologyBuilder) => TopologyOutput): Topology {
  const at = callerLocation();
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new RtmlError('RTML_E_TOPOLOGY', `defineTopology() at ${at}: name ${JSON.stringify(name)} must start with a letter and use letters, digits, _ . -`);
  }
  if (typeof build !== 'function') {
    throw new RtmlError('RTML_E_TOPOLOGY', `defineTopology('${name}') at ${at} needs a build function ({ source, sink }) => stream`);
  }
  return Object.freeze({ name, build, at });
}

export function isTopology(value: unknown): value is Topology {
  const t = value as Partial<Topology> | null;
  return typeof t === 'object' && t !== null && typeof t.name === 'string' && typeof t.build === 'function';
}

