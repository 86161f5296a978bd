import { Observable, type MonoTypeOperatorFunction, type Subscriber, type Subscription } from 'rxjs';
import { loadSchema, timeFieldScale } from '../avro.ts';
import { parseDuration } from '../duration.ts';
import { errorMessage, RtmlError } from '../errors.ts';
import { withHost, type OperatorHost } from '../host.ts';
import { callerLocation } from '../location.ts';
import { markShape, shapeOf } from '../shape.ts';
import { NAME_PATTERN, type SourceOptions, type Topology, type TopologyBuilder } from '../topology.ts';
import { timeReader, type DeclaredSource } from './lanes.ts';
import type { RecordContext } from '../record.ts';
import type { Outcomes, SinkHandle } from './outcomes.ts';

/**
 * A topology's graph as its build function declares it: the sources (with their schema, time and
 * watermark settings, and the subscribers their events are pushed to) and the sinks its operators
 * write to, each a handle whose writer is set once the run has checked and opened its bindings.
 */
export class TopologyGraph {
  readonly declared = new Map<string, DeclaredSource>();
  /** sink(...) names. */
  readonly sinks = new Map<string, SinkHandle>();
  /** Late outputs named by windows (optional bindings; a name may be a sink(...) too, sharing its handle). */
  readonly lateSinks = new Map<string, SinkHandle>();
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly definition: Topology,
    private readonly baseDir: string | undefined,
    /** A source is subscribed: a new chain of operators starts (see Lifecycle.chainStarts, OperatorStates.chainStarts). */
    private readonly chainStarts: () => void,
    private readonly record: RecordContext,
    private readonly outcomes: Outcomes,
  ) {}

  /** Declares a window's late output `name`; returns the handle it writes through when the run binds it. */
  lateSink(name: string, bound: boolean): SinkHandle | undefined {
    let handle = this.lateSinks.get(name);
    if (!handle) {
      handle = this.sinks.get(name) ?? { writer: undefined };
      this.lateSinks.set(name, handle);
    }
    return bound ? handle : undefined;
  }

  /** Runs the build function: declares the sources and sinks, and returns the streams to subscribe. */
  declare(): Observable<unknown>[] {
    let output: unknown;
    try {
      output = this.definition.build(this.builder());
    } catch (err) {
      if (err instanceof RtmlError) throw err;
      throw new RtmlError('RTML_E_TOPOLOGY', `topology '${this.definition.name}' (${this.definition.at}) failed to build: ${errorMessage(err)}`, { cause: err });
    }
    const outputs = Array.isArray(output) ? output : [output];
    if (outputs.length === 0 || !outputs.every((o) => o instanceof Observable)) {
      throw new RtmlError('RTML_E_TOPOLOGY', `topology '${this.definition.name}' (${this.definition.at}): the build function must return the stream (or an array of streams) that ends in sink(...)`);
    }
    return outputs as Observable<unknown>[];
  }

  /** Subscribes the streams with `host` as the operators' host: each operator takes what it needs as it is subscribed. */
  subscribe(outputs: readonly Observable<unknown>[], host: OperatorHost, fail: (err: unknown) => void): void {
    withHost(host, () => {
      for (const stream of outputs) this.subscriptions.push(stream.subscribe({ error: fail }));
    });
  }

  /** The largest `outOfOrder` of the topology's sources (once built). */
  largestOutOfOrder(): number {
    return Math.max(0, ...[...this.declared.values()].map((d) => d.outOfOrder));
  }

  /** Completes every source's subscribers: the input has ended. */
  complete(extra: DeclaredSource | undefined): void {
    for (const source of [...this.declared.values(), ...(extra ? [extra] : [])]) for (const s of [...source.subscribers]) s.complete();
  }

  unsubscribe(): void {
    for (const sub of this.subscriptions) sub.unsubscribe();
  }

  private builder(): TopologyBuilder {
    const baseDirs = [...(this.baseDir ? [this.baseDir] : []), process.cwd()];
    return {
      source: <T>(name: string, options: SourceOptions<T>): Observable<T> => {
        const at = callerLocation();
        const what = `source('${name}') at ${at}`;
        if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
          throw new RtmlError('RTML_E_TOPOLOGY', `${what}: a source name must start with a letter and use letters, digits, _ . -`);
        }
        if (this.declared.has(name)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: source '${name}' is declared twice`);
        if (!options || (typeof options.time !== 'string' && typeof options.time !== 'function')) {
          throw new RtmlError('RTML_E_TOPOLOGY', `${what} needs a time: the event-time field name or a function of the event`);
        }
        const known = new Set(['schema', 'time', 'outOfOrder', 'idleTimeout']);
        for (const key of Object.keys(options)) {
          if (!known.has(key)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: unknown option '${key}' (options: ${[...known].join(', ')})`);
        }
        const schema = options.schema === undefined ? undefined : loadSchema(options.schema, baseDirs, what);
        const scale = typeof options.time === 'string' ? timeFieldScale(schema, options.time) : 1;
        const source: DeclaredSource = {
          name,
          schema,
          outOfOrder: parseDuration(options.outOfOrder ?? 0, `${what} outOfOrder`),
          idleTimeout: options.idleTimeout === undefined ? Infinity : parseDuration(options.idleTimeout, `${what} idleTimeout`),
          ...timeReader(name, options.time, scale),
          subscribers: [],
        };
        this.declared.set(name, source);
        return new Observable<T>((subscriber) => {
          this.chainStarts();
          source.subscribers.push(subscriber as Subscriber<unknown>);
          return () => source.subscribers.splice(source.subscribers.indexOf(subscriber as Subscriber<unknown>), 1);
        });
      },
      sink: <T>(name: string): MonoTypeOperatorFunction<T> => {
        const at = callerLocation();
        if (typeof name !== 'string' || !NAME_PATTERN.test(name) || name === 'dlq') {
          throw new RtmlError('RTML_E_TOPOLOGY', `sink(${JSON.stringify(name)}) at ${at}: a sink name must start with a letter and use letters, digits, _ . - ('dlq' is reserved for dead letters)`);
        }
        let handle = this.sinks.get(name);
        if (!handle) {
          handle = this.lateSinks.get(name) ?? { writer: undefined };
          this.sinks.set(name, handle);
        }
        const bound = handle;
        const { record: r, outcomes } = this;
        const count = outcomes.sinkCount(name);
        return (upstream) =>
          // Passes values on unchanged: a known shape (engine/shape.ts) stays known.
          markShape(
            new Observable<T>((subscriber) =>
              upstream.subscribe({
                next: (value) => {
                  try {
                    bound.writer!.write(value, r.key, r.time);
                    outcomes.resultWritten(count);
                  } catch (err) {
                    outcomes.deadLetter(`sink '${name}' rejected ${JSON.stringify(value)?.slice(0, 200)}: ${errorMessage(err)}`);
                  }
                  subscriber.next(value);
                },
                error: (err) => subscriber.error(err),
                complete: () => subscriber.complete(),
              }),
            ),
            shapeOf(upstream),
          );
      },
    };
  }
}
