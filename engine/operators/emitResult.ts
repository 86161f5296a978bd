import type { Subscriber } from 'rxjs';
import type { OperatorHost } from '../host.ts';
import type { RecordKey } from '../io.ts';
import type { RecordFrame } from '../record.ts';

/**
 * Emits results (of a window, a join) downstream with their key and event time. They travel as
 * results (RecordContext.result): a dead letter downstream is the result's, not the input event's. A
 * result a ranged run's edge cuts is marked, or dropped (WindowEdges.drop).
 */
export function resultEmitter(host: OperatorHost, subscriber: Subscriber<unknown>): (key: RecordKey, time: number, result: unknown, cut: boolean) => void {
  const { record, state } = host;
  const edges = state.edges;
  const frame: RecordFrame = { key: undefined, time: 0, result: undefined, cut: false };
  const next = (result: unknown): void => subscriber.next(result);
  return (key, time, result, cut) => {
    if (cut && edges!.drop) return;
    frame.key = key;
    frame.time = time;
    frame.result = result;
    frame.cut = cut;
    record.within(frame, next, result);
  };
}

