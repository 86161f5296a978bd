import { Observable, Subscriber } from 'rxjs';
import { RtmlError } from '../errors.ts';
import type { ExchangeSide } from '../host.ts';
import type { RecordKey, SinkWriter } from '../io.ts';
import type { RecordContext } from '../record.ts';
import type { Stateful } from '../state.ts';
import { timeReader, type DeclaredSource, type Lane } from './lanes.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { ExchangeBinding } from './options.ts';
import type { OperatorStates } from './operatorStates.ts';
import type { WatermarkTracker } from './watermarks.ts';

/** The exchange's records: the event with the key and time repartition() gave it (a transport key is only text). */
interface ExchangeRecord {
  key: RecordKey;
  time: number;
  /** The source partition it was read from: the receiving side keeps a watermark per upstream partition. */
  from: number;
  /**
   * The offset of the input record it came from, and its number among that record's sends: an
   * upstream task resumed from its checkpoint sends its tail again, and the receiving side drops
   * what it has already taken (so state stays exactly-once across the exchange).
   */
  at: number;
  seq: number;
  event: unknown;
}

/** Receiving side: per upstream partition, the last [at, seq] taken (checkpointed with the state). */
class ExchangeProgress implements Stateful {
  private last = new Map<number, [number, number]>();

  /** True when the record is new (and records it), false for one sent again. */
  take(r: ExchangeRecord): boolean {
    const seen = this.last.get(r.from);
    if (seen !== undefined && (r.at < seen[0] || (r.at === seen[0] && r.seq <= seen[1]))) return false;
    this.last.set(r.from, [r.at, r.seq]);
    return true;
  }

  snapshot(): unknown {
    return [...this.last];
  }

  restore(state: unknown): void {
    this.last = new Map(state as [number, [number, number]][]);
  }
}

/**
 * What the sending side tells every exchange partition of its progress: its watermark (null: its
 * input has ended). The receiving side's watermark then advances even for an upstream partition
 * that sends it no events, and a bounded run knows when the exchange has ended.
 */
interface ExchangeMarker {
  from: number;
  watermark: number | null;
}

/** Markers go out at most this often (processing time), and at the end of the input. */
const MARKER_INTERVAL_MS = 50;

/** Name of the exchange as a source and a sink in checkpoints and messages. */
export const EXCHANGE = 'repartition';


/**
 * The scale-out exchange of a topology with repartition() (engine/worker.ts splits its tasks): the
 * sending side writes each event with its new key and time, and markers of its watermark, to the
 * exchange topic; the receiving side reads that topic instead of the topology's sources, keeping a
 * watermark slot per upstream partition and dropping what a resumed upstream task sends again.
 */
export class Exchange {
  /** The repartition() using the exchange (one per topology in scale-out). */
  user: string | undefined;
  /** Receiving side: the exchange topic as the run's one source (set by declareSource). */
  source: DeclaredSource | undefined;
  private writer: SinkWriter | undefined;
  /**
   * Receiving side: a watermark slot per upstream partition, so the exchange's watermark is their
   * minimum — one upstream task running ahead does not make the others' events late.
   */
  private slots: number[] = [];
  private readonly progress = new ExchangeProgress();
  /** Sending side: the watermark last sent to the exchange, and when. */
  private markedWatermark = -Infinity;
  private markedAt = 0;

  constructor(
    private readonly binding: ExchangeBinding | undefined,
    private readonly record: RecordContext,
    private readonly lifecycle: Lifecycle,
    private readonly watermarks: WatermarkTracker,
    /** Tells the operators when the watermark moved. */
    private readonly advanced: (moved: boolean) => void,
    /** The partition this task reads (markers name it as their upstream). */
    private readonly partition: number,
  ) {}

  /** The side of the exchange a repartition() is on (OperatorHost.exchange). */
  side(operator: string): ExchangeSide {
    const binding = this.binding;
    if (this.user !== undefined && this.user !== operator) {
      throw new RtmlError('RTML_E_TOPOLOGY', `a scale-out run supports one repartition() per topology: ${this.user} and ${operator}`);
    }
    this.user = operator;
    if (binding === undefined) return { side: 'local' };
    const record = this.record;
    if (binding.side === 'send') {
      this.lifecycle.onBurstEnd(() => this.sendMarkers());
      let at = Number.NaN;
      let seq = 0;
      return {
        side: 'send',
        send: (event, key, time) => {
          if (record.offset === at) seq++;
          else [at, seq] = [record.offset, 0];
          this.writer!.write({ key, time, from: record.partition, at, seq, event } satisfies ExchangeRecord, key, time);
        },
      };
    }
    const source = this.source!;
    return {
      side: 'receive',
      events: new Observable<unknown>((downstream) => {
        const subscriber = new Subscriber<unknown>({
          next: (value) => {
            const r = value as ExchangeRecord;
            record.key = r.key;
            downstream.next(r.event);
          },
          error: (err: unknown) => downstream.error(err),
          complete: () => downstream.complete(),
        });
        source.subscribers.push(subscriber);
        return () => source.subscribers.splice(source.subscribers.indexOf(subscriber), 1);
      }),
    };
  }

  /** Receiving side: the exchange as a source, with the same out-of-orderness as the topology's sources. */
  declareSource(outOfOrder: number, states: OperatorStates, topology: string): void {
    if (this.binding?.side !== 'receive') return;
    this.source = { name: EXCHANGE, schema: undefined, outOfOrder, idleTimeout: Infinity, ...timeReader(EXCHANGE, 'time', 1), subscribers: [] };
    states.register(`${topology}/${EXCHANGE}-progress`, this.progress, 'exchange [at, seq] per upstream partition');
  }

  /** Receiving side: the exchange partition's lane has `slot`; one more slot per further upstream partition. */
  addSlots(slot: number): void {
    const binding = this.binding;
    if (binding?.side !== 'receive') return;
    const source = this.source!;
    this.slots = [slot];
    for (let p = 1; p < binding.upstreamPartitions; p++) this.slots.push(this.watermarks.addSlot(source.outOfOrder, source.idleTimeout));
  }

  /** Sending side, when a repartition() uses it: opens the exchange topic's writer. */
  async openWriter(resume: unknown): Promise<SinkWriter | undefined> {
    if (this.binding?.side !== 'send' || this.user === undefined) return undefined;
    this.writer = await this.binding.sink.open({ resume });
    return this.writer;
  }

  /**
   * Receiving side, for each exchange record read: the watermark slot of its upstream partition,
   * or -1 when it is not an event to dispatch (a marker, now taken, or an event sent again).
   */
  route(lane: Lane, value: unknown): number {
    const v = value as (Partial<ExchangeMarker> & Partial<ExchangeRecord>) | null;
    if (v?.watermark !== undefined) {
      this.receiveMarker(lane, v as ExchangeMarker);
      return -1;
    }
    if (v?.at !== undefined && !this.progress.take(v as ExchangeRecord)) return -1; // sent again after an upstream restart
    return this.slots[v?.from ?? -1] ?? lane.slot;
  }

  /** Sending side: the input has ended; every exchange partition is told. */
  end(): void {
    if (this.binding?.side === 'send' && this.user !== undefined) this.sendMarkers();
  }

  /** Sends the exchange's partitions this task's watermark, when it has moved (and not too often unless it is the end). */
  private sendMarkers(): void {
    const binding = this.binding as Extract<ExchangeBinding, { side: 'send' }>;
    const w = this.watermarks.watermark;
    const now = Date.now();
    if (w === this.markedWatermark || w === -Infinity || (w < Infinity && now - this.markedAt < MARKER_INTERVAL_MS)) return;
    const writer = this.writer!;
    if (writer.writeTo === undefined) throw new RtmlError('RTML_E_BINDING', `repartition(): the exchange ${binding.sink.uri} cannot write to a given partition`);
    const marker: ExchangeMarker = { from: this.partition, watermark: w === Infinity ? null : w };
    for (let p = 0; p < binding.partitions; p++) writer.writeTo(p, marker, Number.isFinite(w) ? w : 0);
    this.markedWatermark = w;
    this.markedAt = now;
  }

  /** Receiving side: an upstream task's marker moves its watermark slot; once every upstream has ended, so has the exchange. */
  private receiveMarker(lane: Lane, marker: ExchangeMarker): void {
    const slot = this.slots[marker.from];
    if (slot === undefined) return;
    if (marker.watermark === null) {
      this.advanced(this.watermarks.finish(slot));
      if (this.slots.every((s) => this.watermarks.isFinished(s))) lane.end();
    } else {
      this.advanced(this.watermarks.observe(slot, marker.watermark + this.source!.outOfOrder));
    }
  }
}
