import { defineAggregate, type Aggregate } from 'rtml';

/** The greatest value a window saw and every event that had it, in arrival order. */
export interface Top<E> {
  max: number;
  items: E[];
}

/** Argmax keeping ties: the events with the greatest `value` (q5's hottest auctions, q7's highest bids). */
export function allMax<E>(value: (event: E) => number): Aggregate<E, Top<E>, Top<E>> {
  return defineAggregate<E, Top<E>, Top<E>>({
    name: 'allMax',
    init: () => ({ max: -Infinity, items: [] }),
    add(acc, event) {
      const v = value(event);
      if (v > acc.max) {
        acc.max = v;
        acc.items = [event];
      } else if (v === acc.max) acc.items.push(event);
      return acc;
    },
    merge(a, b) {
      if (b.max > a.max) return b;
      if (b.max === a.max) a.items.push(...b.items);
      return a;
    },
    result: (acc) => acc,
  });
}

/**
 * Argmax with one winner: the event with the greatest `value`, of equal values the one with the
 * least event time, of equal times the first to arrive (q9's winning bid).
 */
export function firstMax<E>(value: (event: E) => number): Aggregate<E, { event: E | undefined; value: number; time: number }, E | undefined> {
  type Best = { event: E | undefined; value: number; time: number };
  const better = (v: number, t: number, acc: Best) => v > acc.value || (v === acc.value && t < acc.time);
  return defineAggregate<E, Best, E | undefined>({
    name: 'firstMax',
    init: () => ({ event: undefined, value: -Infinity, time: Infinity }),
    add(acc, event, time) {
      const v = value(event);
      if (acc.event === undefined || better(v, time, acc)) {
        acc.event = event;
        acc.value = v;
        acc.time = time;
      }
      return acc;
    },
    merge: (a, b) => (b.event !== undefined && (a.event === undefined || better(b.value, b.time, a)) ? b : a),
    result: (acc) => acc.event,
  });
}
