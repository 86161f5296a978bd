import type { Observable, Subscriber, Subscription } from 'rxjs';
import type { AggregateSet } from '../aggregates.ts';
import { errorMessage, RtmlError } from '../errors.ts';
import type { OperatorHost } from '../host.ts';
import type { MonitoringRecorder } from '../monitoring/records.ts';
import { isWindowSpec, type HoppingWindow, type TumblingWindow, type WindowSpec } from '../windowSpecs.ts';

import { resultEmitter } from './emitResult.ts';
import { createWindowStore } from './windowStores.ts';

/** What monitor() and monitorAccuracy() share: windows per model version, and where their records go. */

export type MonitoredWindow = TumblingWindow | HoppingWindow;

/** A monitor's window: tumbling or hopping (a session of a whole model's traffic would never close). */
export function monitoredWindow(spec: WindowSpec, what: string): MonitoredWindow {
  if (!isWindowSpec(spec) || spec.kind === 'session') {
    throw new RtmlError('RTML_E_WINDOW', `${what}: window must be tumbling(size) or hopping(size, advance), got ${JSON.stringify(spec)}`);
  }
  return spec;
}

/** The version field of a scored event ('v3'), as a string; undefined when it has none. */
export function versionOf(event: unknown, field: string): string | undefined {
  const v = (event as Record<string, unknown> | null)?.[field];
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
}

/** A monitor operator as `subscribeMonitored` runs it. */
export interface Monitored<R> {
  readonly what: string;
  /** Its kind in the operator id ('monitor', 'monitor-accuracy'). */
  readonly kind: string;
  readonly window: MonitoredWindow;
  readonly lateness: number;
  readonly late: string | undefined;
  readonly versionField: string;
  readonly aggs: AggregateSet;
  /** What its checkpointed state means (StateCapability.register). */
  readonly signature: string;
  /** The records of one version's window, when it fires. */
  fire(version: string, start: number, end: number, accs: unknown[]): readonly R[];
  /** Writes records to the run's monitoring store. */
  write(recorder: MonitoringRecorder, records: R[]): Promise<void>;
}

/**
 * Subscribes a monitor: its input's events go to windows keyed by the version that scored them
 * (an event without one is dead-lettered), each window's records are emitted downstream when it
 * fires (as results, with `window_end − 1` as event time) and written to the run's monitoring
 * store after the burst (records of windows a ranged run cuts are emitted marked, never stored).
 */
export function subscribeMonitored<R>(host: OperatorHost, source: Observable<unknown>, subscriber: Subscriber<R>, monitor: Monitored<R>): Subscription {
  const { state, outputs, lifecycle, record } = host;
  const id = state.operatorId(monitor.kind);
  const emit = resultEmitter(host, subscriber as Subscriber<unknown>);
  const recorder = host.monitoring;
  const pending: R[] = [];
  const store = createWindowStore(monitor.window, { lateness: monitor.lateness, emitUpdates: false, edges: state.edges }, monitor.aggs, (key, start, end, accs, cut) => {
    for (const r of monitor.fire(String(key), start, end, accs)) {
      if (!cut && recorder !== undefined) pending.push(r);
      emit(key, end - 1, r, cut);
    }
  });
  state.register(id, store, monitor.signature);
  const late = outputs.late(monitor.late, id);
  const subscription = source.subscribe({
    next(event) {
      const version = versionOf(event, monitor.versionField);
      if (version === undefined) {
        outputs.deadLetter(`${monitor.what}: the event has no '${monitor.versionField}' (monitors follow score(), which writes it)`);
        return;
      }
      const reason = monitor.aggs.check(event);
      if (reason !== undefined) {
        outputs.deadLetter(reason);
        return;
      }
      let taken: boolean;
      try {
        taken = store.add(version, record.time, event);
      } catch (err) {
        outputs.deadLetter(`${monitor.what} threw: ${errorMessage(err)}`);
        return;
      }
      if (!taken) late(event);
    },
    error: (err) => subscriber.error(err),
    complete: () => subscriber.complete(),
  });
  state.onWatermark((watermark) => store.advance(watermark));
  if (recorder !== undefined) {
    lifecycle.onBurstEnd(async () => {
      if (pending.length > 0) await monitor.write(recorder, pending.splice(0));
    });
  }
  return subscription;
}
