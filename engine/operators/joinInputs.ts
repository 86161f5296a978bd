import { isObservable, Subscription, type Observable, type Subscriber } from 'rxjs';
import { parseDuration, type Duration } from '../duration.ts';
import { RtmlError } from '../errors.ts';
import type { OperatorHost } from '../host.ts';
import type { RecordKey } from '../io.ts';

/**
 * What the join operators share (docs/semantics.md, joins): their options, the subscription of
 * both keyed inputs, the late output naming the side, and the emission of results with their key
 * and event time.
 */

export type JoinType = 'inner' | 'left';

/** The right side of a result: null for an unmatched left event of a left join. */
export type JoinRight<R, T extends JoinType> = T extends 'left' ? R | null : R;

/** A join's result when no `select` is given. */
export interface Joined<L, R> {
  key: RecordKey;
  left: L;
  right: R;
}

export interface JoinOptions<L, R, T extends JoinType, O> {
  /** How far behind the watermark an event is still taken (default 0: no hidden grace period). */
  lateness?: Duration;
  /** 'inner' (default): pairs only; 'left': also each left event that matched nothing, with `right: null`. */
  type?: T;
  /** The sink that receives late events as `{ side, event }` (default: counted and dropped). */
  late?: string;
  /** Shapes a result from its two sides (default `{ key, left, right }`). */
  select?: (left: L, right: JoinRight<R, T>) => O;
}

export interface ResolvedJoinOptions {
  readonly lateness: number;
  readonly type: JoinType;
  readonly late: string | undefined;
  readonly select: ((left: unknown, right: unknown) => unknown) | undefined;
}

/** Checks a join's options: every mistake fails when the topology is built, naming the line. */
export function resolveJoinOptions(what: string, options: object, extra: readonly string[]): ResolvedJoinOptions {
  if (typeof options !== 'object' || options === null) throw new RtmlError('RTML_E_TOPOLOGY', `${what} needs an options object`);
  const known = new Set(['lateness', 'type', 'late', 'select', ...extra]);
  for (const name of Object.keys(options)) {
    if (!known.has(name)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: unknown option '${name}' (options: ${[...known].join(', ')})`);
  }
  const { lateness, type = 'inner', late, select } = options as JoinOptions<unknown, unknown, JoinType, unknown>;
  if (type !== 'inner' && type !== 'left') throw new RtmlError('RTML_E_TOPOLOGY', `${what}: type must be 'inner' or 'left', got ${JSON.stringify(type)}`);
  if (late !== undefined && (typeof late !== 'string' || late === '')) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: late must name a sink, got ${JSON.stringify(late)}`);
  if (select !== undefined && typeof select !== 'function') throw new RtmlError('RTML_E_TOPOLOGY', `${what}: select must be a function (left, right) => result`);
  return Object.freeze({
    lateness: parseDuration(lateness ?? 0, `${what} lateness`),
    type,
    late,
    select: select as ResolvedJoinOptions['select'],
  });
}

/** Checks that `other` is a stream a join can take. */
export function checkOtherStream(what: string, other: unknown): void {
  if (!isObservable(other)) throw new RtmlError('RTML_E_TOPOLOGY', `${what} needs the other stream (an Observable keyed with keyBy(...)) as its first argument`);
}

/** Takes an input event of one side with its key and event time; false when it is late. */
export type JoinInput = (event: unknown, key: RecordKey, time: number) => boolean;

/** A two-sided operator as `connectSides` wires it. */
export interface TwoSided {
  /** Stable id (StateCapability.operatorId), for the late output's drop count. */
  readonly id: string;
  /** The two inputs, left (the stream piped on) first, and their names in late records and errors. */
  readonly inputs: readonly [Observable<unknown>, Observable<unknown>];
  readonly sides: readonly [string, string];
  readonly take: readonly [JoinInput, JoinInput];
  /** The sink late events go to as `{ side, event }` (undefined: counted and dropped). */
  readonly late: string | undefined;
  /** Moves the operator's watermark (fires, frees, emits). */
  advance(watermark: number): void;
  /** How far behind its input watermark the operator may still emit (StateCapability.watermarkDelay). */
  readonly emitsBehind: number;
}

/**
 * Subscribes both inputs of a two-sided operator and hands it the watermark. Each input must be
 * keyed; neither may run through an operator that holds events back in batches (the watermark
 * would pass events still in a batch). The operator sees the watermark of the slower input chain,
 * and the operators subscribed after it see that less `emitsBehind`, so none of its results is late
 * downstream. Its output completes when both inputs have.
 */
export function connectSides(host: OperatorHost, what: string, operator: TwoSided, subscriber: Subscriber<unknown>): Subscription {
  const { record, state, lifecycle } = host;
  let delay = 0;
  let completed = 0;
  const subscription = new Subscription();
  const late = host.outputs.late(operator.late, operator.id);
  for (let side = 0; side < 2; side++) {
    const take = operator.take[side]!;
    const name = operator.sides[side]!;
    subscription.add(
      operator.inputs[side]!.subscribe({
        next(event) {
          const key = record.key;
          if (key === undefined) {
            subscriber.error(new RtmlError('RTML_E_OPERATOR', `${what} needs keyed inputs: put keyBy(...) before its ${name} side`));
            return;
          }
          if (!take(event, key, record.time)) late({ side: name, event });
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          if (++completed === 2) subscriber.complete();
        },
      }),
    );
    if (lifecycle.holdingBack !== undefined) {
      subscription.unsubscribe();
      throw new RtmlError('RTML_E_OPERATOR', `${what} cannot take a ${name} side that runs through ${lifecycle.holdingBack}: it holds events back in batches, so the join would see the watermark pass events still in a batch; join before it`);
    }
    delay = Math.max(delay, state.watermarkDelay);
  }
  state.watermarkDelay = delay;
  state.onWatermark((watermark) => operator.advance(watermark));
  state.watermarkDelay = delay + operator.emitsBehind;
  return subscription;
}

/** Builds a result from its sides: `select`, else `{ key, left, right }` plus `extra` fields first. */
export function resultShaper(select: ResolvedJoinOptions['select']): (key: RecordKey, left: unknown, right: unknown) => unknown {
  if (select !== undefined) return (_key, left, right) => select(left, right);
  return (key, left, right) => ({ key, left, right });
}
