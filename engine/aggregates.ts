import { RtmlError } from './errors.ts';

/**
 * The aggregate API. An aggregate is a mergeable accumulator: `init` makes an empty one, `add`
 * folds one event in (with its event time), `merge` combines two (session merges), `result`
 * reads it out. The built-ins below are written with this same API.
 *
 * `check` (optional) says why an event cannot be added (a missing or non-numeric field); the
 * window operator asks every aggregate before touching any state, so a bad event is dead-lettered
 * whole instead of half-added.
 */
export interface Aggregate<E = never, Acc = unknown, R = unknown> {
  readonly name: string;
  init(): Acc;
  add(acc: Acc, event: E, time: number): Acc;
  merge(a: Acc, b: Acc): Acc;
  result(acc: Acc): R;
  check?(event: E): string | undefined;
}

/** The value an aggregate emits. */
export type AggregateResult<A> = A extends Aggregate<never, unknown, infer R> ? R : never;

/** A field name or a function of the event. */
export type Field<E> = string | ((event: E) => unknown);

/** Defines a user aggregate; validates the spec so mistakes fail at start, not at the first event. */
export function defineAggregate<E, Acc, R>(spec: Aggregate<E, Acc, R>): Aggregate<E, Acc, R> {
  for (const fn of ['init', 'add', 'merge', 'result'] as const) {
    if (typeof spec[fn] !== 'function') {
      throw new RtmlError('RTML_E_AGGREGATE', `aggregate '${spec.name ?? '?'}' needs a ${fn}() function`);
    }
  }
  if (spec.check !== undefined && typeof spec.check !== 'function') {
    throw new RtmlError('RTML_E_AGGREGATE', `aggregate '${spec.name}': check must be a function`);
  }
  return Object.freeze({ ...spec });
}

function accessor<E>(field: Field<E>, fn: string): { read: (e: E) => unknown; label: string } {
  if (typeof field === 'function') return { read: field, label: `${fn}(fn)` };
  if (typeof field !== 'string' || field === '') {
    throw new RtmlError('RTML_E_AGGREGATE', `${fn}() needs a field name or a function, got ${JSON.stringify(field)}`);
  }
  return { read: (e: E) => (e as Record<string, unknown>)[field], label: `${fn}('${field}')` };
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null || typeof v === 'number') return `${v}`;
  return `${typeof v === 'string' ? 'the string' : `a ${typeof v}`} ${JSON.stringify(v)?.slice(0, 40)}`;
}

function numeric<E, Acc, R>(
  fn: string,
  field: Field<E>,
  ops: { init: () => Acc; add: (acc: Acc, v: number) => Acc; merge: (a: Acc, b: Acc) => Acc; result: (acc: Acc) => R },
): Aggregate<E, Acc, R> {
  const { read, label } = accessor(field, fn);
  return defineAggregate<E, Acc, R>({
    name: label,
    init: ops.init,
    add: (acc, e) => ops.add(acc, read(e) as number),
    merge: ops.merge,
    result: ops.result,
    check(e) {
      const v = read(e);
      return typeof v === 'number' && Number.isFinite(v) ? undefined : `${label}: value is ${describe(v)}, not a finite number`;
    },
  });
}

export function count<E = unknown>(): Aggregate<E, number, number> {
  return defineAggregate<E, number, number>({
    name: 'count()',
    init: () => 0,
    add: (acc) => acc + 1,
    merge: (a, b) => a + b,
    result: (acc) => acc,
  });
}

export function sum<E = unknown>(field: Field<E>): Aggregate<E, number, number> {
  return numeric(`sum`, field, { init: () => 0, add: (a, v) => a + v, merge: (a, b) => a + b, result: (a) => a });
}

export function min<E = unknown>(field: Field<E>): Aggregate<E, number, number> {
  return numeric('min', field, { init: () => Infinity, add: (a, v) => (v < a ? v : a), merge: Math.min, result: (a) => a });
}

export function max<E = unknown>(field: Field<E>): Aggregate<E, number, number> {
  return numeric('max', field, { init: () => -Infinity, add: (a, v) => (v > a ? v : a), merge: Math.max, result: (a) => a });
}

interface Mean {
  sum: number;
  n: number;
}

export function avg<E = unknown>(field: Field<E>): Aggregate<E, Mean, number> {
  return numeric<E, Mean, number>('avg', field, {
    init: () => ({ sum: 0, n: 0 }),
    add(acc, v) {
      acc.sum += v;
      acc.n += 1;
      return acc;
    },
    merge: (a, b) => ({ sum: a.sum + b.sum, n: a.n + b.n }),
    result: (acc) => acc.sum / acc.n,
  });
}

/** Exact count of distinct values (strings, numbers, booleans, null). */
export function distinct<E = unknown>(field: Field<E>): Aggregate<E, Set<unknown>, number> {
  const { read, label } = accessor(field, 'distinct');
  return defineAggregate<E, Set<unknown>, number>({
    name: label,
    init: () => new Set(),
    add: (acc, e) => acc.add(read(e)),
    merge(a, b) {
      for (const v of b) a.add(v);
      return a;
    },
    result: (acc) => acc.size,
    check(e) {
      const v = read(e);
      const t = typeof v;
      return v === null || t === 'string' || t === 'number' || t === 'boolean' ? undefined : `${label}: value is ${describe(v)}, not a string, number, boolean or null`;
    },
  });
}

interface Stamped {
  time: number;
  value: unknown;
  seen: boolean;
}

/** The value at the earliest (`first`) or latest (`last`) event time; ties keep arrival order. */
function positional<E>(fn: 'first' | 'last', field: Field<E>): Aggregate<E, Stamped, unknown> {
  const { read, label } = accessor(field, fn);
  // first: a later arrival replaces only a strictly earlier time; last: an equal or later time.
  const wins = fn === 'first' ? (t: number, acc: Stamped) => t < acc.time : (t: number, acc: Stamped) => t >= acc.time;
  return defineAggregate<E, Stamped, unknown>({
    name: label,
    init: () => ({ time: 0, value: undefined, seen: false }),
    add(acc, e, time) {
      if (!acc.seen || wins(time, acc)) {
        acc.time = time;
        acc.value = read(e);
        acc.seen = true;
      }
      return acc;
    },
    merge: (a, b) => (!b.seen || (a.seen && !wins(b.time, a)) ? a : b),
    result: (acc) => acc.value,
    check: (e) => (read(e) === undefined ? `${label}: value is missing` : undefined),
  });
}

export function first<E = unknown>(field: Field<E>): Aggregate<E, Stamped, unknown> {
  return positional('first', field);
}

export function last<E = unknown>(field: Field<E>): Aggregate<E, Stamped, unknown> {
  return positional('last', field);
}

const RESERVED = new Set(['key', 'window_start', 'window_end']);

/**
 * A named set of aggregates, applied together to one window's accumulators (an array, one slot per
 * aggregate). Shared by every window kind.
 */
export class AggregateSet {
  readonly names: readonly string[];
  private readonly aggs: readonly Aggregate<unknown>[];
  private readonly checks: readonly Aggregate<unknown>[];

  constructor(spec: Record<string, Aggregate<never>>, at: string) {
    const entries = Object.entries(spec ?? {});
    if (entries.length === 0) throw new RtmlError('RTML_E_AGGREGATE', `aggregate() at ${at} needs at least one aggregation`);
    for (const [name, agg] of entries) {
      if (RESERVED.has(name)) throw new RtmlError('RTML_E_AGGREGATE', `aggregate() at ${at}: '${name}' is a reserved result field; rename it`);
      if (!agg || typeof agg.add !== 'function' || typeof agg.init !== 'function') {
        throw new RtmlError('RTML_E_AGGREGATE', `aggregate() at ${at}: '${name}' is not an aggregate (use count(), sum('f'), … or defineAggregate())`);
      }
    }
    this.names = entries.map(([n]) => n);
    this.aggs = entries.map(([, a]) => a as Aggregate<unknown>);
    this.checks = this.aggs.filter((a) => a.check !== undefined);
  }

  /** Why the event cannot be aggregated, or undefined. */
  check(event: unknown): string | undefined {
    for (const agg of this.checks) {
      const reason = agg.check!(event);
      if (reason !== undefined) return reason;
    }
    return undefined;
  }

  init(): unknown[] {
    const accs = new Array<unknown>(this.aggs.length);
    for (let i = 0; i < accs.length; i++) accs[i] = this.aggs[i]!.init();
    return accs;
  }

  add(accs: unknown[], event: unknown, time: number): void {
    for (let i = 0; i < accs.length; i++) accs[i] = this.aggs[i]!.add(accs[i], event, time);
  }

  /** Folds `b` into `a` and returns `a`. */
  merge(a: unknown[], b: unknown[]): unknown[] {
    for (let i = 0; i < a.length; i++) a[i] = this.aggs[i]!.merge(a[i], b[i]);
    return a;
  }

  result(key: unknown, start: number, end: number, accs: unknown[]): Record<string, unknown> {
    const out: Record<string, unknown> = { key, window_start: start, window_end: end };
    for (let i = 0; i < accs.length; i++) out[this.names[i]!] = this.aggs[i]!.result(accs[i]);
    return out;
  }
}
