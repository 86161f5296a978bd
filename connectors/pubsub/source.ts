import { Duration, PubSub, SubscriptionCloseBehaviors, type Message, type Subscription } from '@google-cloud/pubsub';
import type { Type } from 'avsc';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import { InputRecord, type SourceConnector, type SourceOpenOptions, type SourceReader } from '../../engine/io.ts';
import { retryWithBackoff } from '../../storage/index.ts';
import { bareAvroPayloads, payloadOf, sourcePayloads, type PayloadFormat } from '../payload.ts';
import { parsePubSubUri, type PubSubUri } from './uri.ts';
import { logLine } from '../../engine/log.ts';

/** Messages held (buffered or processed, not yet acknowledged) before the client stops pulling. */
export const MAX_UNACKED = 10_000;
/** How long the client keeps extending the ack deadline of a held message before letting it go. */
const MAX_EXTENSION_MINUTES = 30;
/** Follow mode: how long `read` waits for a message before answering `[]`. */
const FOLLOW_WAIT_MS = 25;
/** Bounded mode: the longest a single `read` blocks before answering `[]` (the run loop goes on). */
const BOUNDED_WAIT_MS = 200;
/** How long after an ack the client library may not have sent it yet (it is repeated on close). */
const RECENT_ACK_MS = 5000;
/** gRPC status codes. */
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

/**
 * Calls `probe` (a metadata request) until the server answers, retrying with backoff while it is
 * unreachable and writing `rtml: pubsub <project> unreachable (…); retrying in …` to stderr each
 * time; gives up with RTML_E_BINDING after `timeoutMs`. A missing resource or refused credentials
 * fail at once.
 */
export async function connectWithRetry<T>(uri: PubSubUri, what: string, probe: () => Promise<T>): Promise<T> {
  return retryWithBackoff(
    async () => {
      try {
        return await probe();
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === NOT_FOUND) {
          throw new RtmlError('RTML_E_BINDING', `pubsub ${uri.project}: ${what} ${uri.name} does not exist (create it first, e.g. gcloud pubsub ${what}s create ${uri.name})`, { cause: err });
        }
        if (code === PERMISSION_DENIED || code === UNAUTHENTICATED) {
          throw new RtmlError('RTML_E_BINDING', `pubsub ${uri.project}: access to ${what} ${uri.name} refused: ${errorMessage(err)}`, { cause: err });
        }
        throw err;
      }
    },
    {
      initialMs: 250,
      maxMs: 5000,
      giveUpAfterMs: uri.connectTimeoutMs,
      retryable: (err) => (err instanceof RtmlError ? undefined : errorMessage(err).split('\n')[0]!),
      onRetry: ({ reason, delayMs }) => logLine(`rtml: pubsub ${uri.project} unreachable (${reason}); retrying in ${delayMs} ms`, 'warn'),
      giveUp: ({ reason, elapsedMs, error }) => new RtmlError('RTML_E_BINDING', `pubsub ${uri.project} unreachable for ${Math.round(elapsedMs / 1000)} s (${reason}); giving up`, { cause: error }),
    },
  );
}

/** One call, no client-side retries, so an unreachable server is reported within seconds. */
export const PROBE_OPTIONS = { timeout: 3000, maxRetries: 0 };

/**
 * A Pub/Sub subscription as a source (`pubsub://<project>/<subscription>`), with one partition (0).
 *
 * 1. Streaming pull with flow control: at most MAX_UNACKED messages are held (buffered or processed
 *    but not acknowledged); the client library keeps extending their ack deadlines (up to
 *    MAX_EXTENSION_MINUTES) so the server does not redeliver them meanwhile.
 * 2. Offsets are a counter assigned on arrival, continuing after `startAfter` when resuming; a
 *    record's timestamp is the message's publish time. With message ordering enabled on the
 *    subscription, messages of one ordering key arrive in order on the single partition.
 * 3. Messages are acknowledged only in `committed(positions)` (a durable checkpoint, or the end of a
 *    completed bounded run): every held message with an offset up to the position. A crash before
 *    that means Pub/Sub redelivers them (at-least-once: nothing is lost; a crash between the
 *    checkpoint and the acknowledgement may process a message twice). On close, held messages not
 *    acknowledged are nacked, so the next run gets them at once. When Pub/Sub sends nothing more
 *    until handed-out messages are acknowledged — an ordering key's next messages on a subscription
 *    with message ordering, or MAX_UNACKED held — the reader asks the runtime for a commit
 *    (`commitWanted`): a checkpoint, or without checkpoints the outputs written first (at-least-once,
 *    as at the end of a bounded run). So a run always makes progress, whatever its checkpoint interval.
 * 4. Bounded (not following): Pub/Sub has no end offset, so the input ends once no new message has
 *    arrived for `?idle=` (default 2000 ms) after the last one (or after open) — the subscription's
 *    backlog, in practice. While MAX_UNACKED messages await acknowledgement the client pulls
 *    nothing more, which is not idleness; after a commit the reader asked for, the idle time starts
 *    again (what Pub/Sub held back comes only then).
 *    Nor does a bounded input end before the subscription's ack deadline has passed since open:
 *    messages an earlier run held when it crashed or stopped (including ones in flight on its
 *    stream, which its close cannot nack) are redelivered only once their lease expires, and this
 *    reader extends leases by that deadline at a time, so the same holds for its own crashes.
 *    Nothing lets a reader end sooner safely: Pub/Sub's API tells neither the backlog nor whether
 *    messages are leased to a subscriber that is gone (the backlog is a Cloud Monitoring metric,
 *    sampled a minute or more late, and the emulator has none), and a run cannot tell whether the
 *    previous one crashed (a clean stop nacks what it held; a crash leaves leases running).
 * 5. `from: 'latest'` (and no checkpoint to resume from): messages published before the reader
 *    opened are acknowledged and skipped, so only messages published after open are processed —
 *    "latest" means the same as for a log. (Seeking the subscription would drop them too, but it is
 *    an administrative operation that needs more permissions.) `earliest`: whatever the
 *    subscription holds. When resuming, everything delivered is processed: what the subscription
 *    still holds is exactly what no checkpoint covered. A time (`rtml run --from <time>`, `rtml
 *    replay --from <time>`) seeks the subscription to it — Pub/Sub's replay, which needs a
 *    subscription that retains acknowledged messages to bring those back — and skips anything
 *    published earlier; offsets and `--to` are refused (Pub/Sub has neither).
 * 6. Values are JSON (UTF-8) or, when the topology declares a reader schema, Avro binary with that
 *    schema; a message that cannot be decoded becomes an error record (to the dead-letter output).
 */
export function pubsubSourceConnector(uri: string): SourceConnector {
  const parsed = parsePubSubUri(uri, 'source');
  return {
    uri,
    async open(options: SourceOpenOptions): Promise<SourceReader> {
      return PubSubSourceReader.open(parsed, options);
    },
  };
}

interface Held {
  offset: number;
  message: Message;
}

class PubSubSourceReader implements SourceReader {
  readonly partitions: readonly number[] = [0];
  readonly decodesWithReaderSchema: boolean;
  private readonly payloads: PayloadFormat;
  /** Arrived and not yet read, in offset order. */
  private readonly buffer: Held[] = [];
  private head = 0;
  /** Read and not yet acknowledged, in offset order. */
  private readonly unacked: Held[] = [];
  private unackedHead = 0;
  /** Held messages by id: a redelivery of one we hold replaces its handle instead of a duplicate. */
  private readonly byId = new Map<string, Held>();
  private nextOffset: number;
  private lastArrival = Date.now();
  private openedAt = Date.now();
  private done = 0;
  private ended = false;
  private failure: unknown;
  private arrived: (() => void) | undefined;
  /** A read found nothing new while messages it handed out await acknowledgement, and Pub/Sub holds
   * back more until they are acknowledged (see `commitWanted`); cleared by `committed`. */
  private blocked = false;
  private readonly skipBefore: number;
  private closed = false;
  /** Acks handed to the client library lately (batched by it): repeated, awaited, on close. */
  private recentAcks: { ackId: string; at: number }[] = [];

  private constructor(
    private readonly uri: PubSubUri,
    private readonly client: PubSub,
    private readonly subscription: Subscription,
    private readonly options: SourceOpenOptions,
    type: Type | undefined,
    /** Bounded: the input does not end before this long after open (the subscription's ack deadline). */
    private readonly settleMs: number,
    /** The subscription has message ordering: an ordering key's next messages wait for earlier acks. */
    private readonly ordered: boolean,
  ) {
    this.decodesWithReaderSchema = type !== undefined;
    this.payloads = sourcePayloads(type, bareAvroPayloads);
    const last = options.startAfter?.get(0);
    this.nextOffset = last === undefined ? 0 : last + 1;
    const from = options.range?.from;
    // Not on resume: the checkpoint's position wins. From a time: what the seek replays, but for a
    // message published before it (the emulator's seek replays everything retained).
    this.skipBefore = options.startAfter !== undefined ? -Infinity : from !== undefined && 'time' in from ? from.time : options.from === 'latest' ? Date.now() : -Infinity;
  }

  static async open(uri: PubSubUri, options: SourceOpenOptions): Promise<PubSubSourceReader> {
    const { from, to } = options.range ?? {};
    if (to !== undefined || (from !== undefined && !('time' in from))) {
      throw new RtmlError('RTML_E_USAGE', `pubsub://${uri.project}/${uri.name}: Pub/Sub replays from a time only (a seek of the subscription): it has no offsets and no end position`);
    }
    const client = new PubSub({ projectId: uri.project });
    try {
      const probe = client.subscription(uri.name);
      const [metadata] = await connectWithRetry(uri, 'subscription', () => probe.getMetadata(PROBE_OPTIONS));
      const ackDeadline = Math.max(10, Number(metadata.ackDeadlineSeconds ?? 10));
      const subscription = client.subscription(uri.name, {
        flowControl: { maxMessages: MAX_UNACKED, allowExcessMessages: false },
        maxExtensionTime: Duration.from({ minutes: MAX_EXTENSION_MINUTES }),
        closeOptions: { behavior: SubscriptionCloseBehaviors.NackImmediately },
        // Leases are extended by the subscription's ack deadline at a time, so the messages a crashed
        // run held come back within that long (see `settleMs`).
        minAckDeadline: Duration.from({ seconds: ackDeadline }),
        maxAckDeadline: Duration.from({ seconds: ackDeadline }),
      });
      if (from !== undefined && options.startAfter === undefined) {
        // Pub/Sub's replay: messages published since `from` become unacknowledged again (acknowledged
        // ones only if the subscription retains them), earlier ones acknowledged.
        await subscription.seek(new Date(from.time));
      }
      const reader = new PubSubSourceReader(uri, client, subscription, options, options.readerSchema, ackDeadline * 1000, metadata.enableMessageOrdering === true);
      subscription.on('message', (m: Message) => reader.onMessage(m));
      subscription.on('error', (err: unknown) => reader.onError(err));
      reader.lastArrival = reader.openedAt = Date.now();
      return reader;
    } catch (err) {
      await client.close().catch(() => {});
      throw err;
    }
  }

  private onMessage(message: Message): void {
    if (this.closed) {
      message.nack();
      return;
    }
    const held = this.byId.get(message.id);
    if (held !== undefined) {
      held.message = message; // redelivered (lease lost): acknowledge with the newest handle
      return;
    }
    if (message.publishTime.getTime() < this.skipBefore) {
      message.ack(); // published before `from` (latest: before open; a time: what a seek acknowledges)
      return;
    }
    const entry = { offset: this.nextOffset++, message };
    this.byId.set(message.id, entry);
    this.buffer.push(entry);
    this.lastArrival = Date.now();
    this.wake();
  }

  private onError(err: unknown): void {
    this.failure ??= err;
    this.wake();
  }

  private wake(): void {
    const arrived = this.arrived;
    this.arrived = undefined;
    arrived?.();
  }

  private async waitForMessage(ms: number): Promise<void> {
    if (ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.arrived = undefined;
        resolve();
      }, ms);
      this.arrived = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async read(partition: number, max: number): Promise<InputRecord[] | null> {
    if (partition !== 0) throw new RtmlError('RTML_E_BINDING', `pubsub://${this.uri.project}/${this.uri.name} has only partition 0`);
    if (this.ended) return null;
    if (this.failure !== undefined) this.fail();
    if (this.head >= this.buffer.length) {
      if (this.options.follow) {
        await this.waitForMessage(FOLLOW_WAIT_MS);
      } else {
        if (this.held() >= MAX_UNACKED) {
          // The client pulls nothing more until they are acknowledged (commitWanted): not idle.
          this.lastArrival = Date.now();
        }
        const now = Date.now();
        const wait = Math.max(this.uri.idleMs - (now - this.lastArrival), this.settleMs - (now - this.openedAt));
        if (wait <= 0) {
          this.ended = true;
          return null;
        }
        await this.waitForMessage(Math.min(BOUNDED_WAIT_MS, wait));
      }
      if (this.failure !== undefined) this.fail();
      if (this.head >= this.buffer.length) {
        // Nothing new: blocked if Pub/Sub sends no more until what was handed out is acknowledged.
        const waiting = this.unacked.length - this.unackedHead;
        this.blocked = waiting > 0 && (this.ordered || waiting >= MAX_UNACKED);
        return [];
      }
    }
    const out: InputRecord[] = [];
    while (out.length < max && this.head < this.buffer.length) {
      const held = this.buffer[this.head++]!;
      this.unacked.push(held);
      out.push(this.decode(held));
    }
    if (this.head > 4096 && this.head * 2 > this.buffer.length) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    this.done += out.length;
    return out;
  }

  private held(): number {
    return this.buffer.length - this.head + this.unacked.length - this.unackedHead;
  }

  private fail(): never {
    throw new RtmlError('RTML_E_BINDING', `pubsub ${this.uri.project}/${this.uri.name}: streaming pull failed: ${errorMessage(this.failure)}`, { cause: this.failure });
  }

  private decode({ offset, message }: Held): InputRecord {
    return this.payloads.decode(payloadOf(message.data, offset, message.publishTime.getTime()));
  }

  /**
   * True after a read found nothing new while handed-out messages await acknowledgement that Pub/Sub
   * waits for before sending more: on a subscription with message ordering (the next messages of
   * an ordering key come only once earlier ones are acknowledged), or with MAX_UNACKED held (flow
   * control). The runtime then checkpoints (or, without checkpoints, writes its outputs) and calls
   * `committed`, so a run always makes progress and still acknowledges only what is durable.
   */
  commitWanted(): boolean {
    return this.blocked;
  }

  /** Acknowledges every read message up to the checkpointed position (never unread ones). */
  async committed(positions: ReadonlyMap<number, number>): Promise<void> {
    const wasBlocked = this.blocked;
    this.blocked = false;
    const upTo = positions.get(0);
    if (upTo === undefined) return;
    const now = Date.now();
    const since = now - RECENT_ACK_MS;
    let old = 0;
    while (old < this.recentAcks.length && this.recentAcks[old]!.at < since) old++;
    if (old > 0) this.recentAcks.splice(0, old);
    while (this.unackedHead < this.unacked.length && this.unacked[this.unackedHead]!.offset <= upTo) {
      const held = this.unacked[this.unackedHead++]!;
      this.byId.delete(held.message.id);
      held.message.ack();
      this.recentAcks.push({ ackId: held.message.ackId, at: now });
    }
    // Pub/Sub sends what it held back only now: the idle time of a bounded input starts again.
    if (wasBlocked) this.lastArrival = now;
    if (this.unackedHead > 4096 && this.unackedHead * 2 > this.unacked.length) {
      this.unacked.splice(0, this.unackedHead);
      this.unackedHead = 0;
    }
  }

  progress(): { done: number; total: number } | undefined {
    return this.options.follow ? undefined : { done: this.done, total: this.done + this.buffer.length - this.head };
  }

  async close(): Promise<void> {
    this.closed = true;
    // Not covered by a checkpoint: back to the subscription for the next run, at once. The client
    // library's own nacks on close are batched and partly lost when the stream closes at once, so
    // the held messages are nacked (and recent acks repeated) with awaited calls once it is closed.
    const nack: string[] = [];
    for (let i = this.unackedHead; i < this.unacked.length; i++) nack.push(this.unacked[i]!.message.ackId);
    for (let i = this.head; i < this.buffer.length; i++) nack.push(this.buffer[i]!.message.ackId);
    const since = Date.now() - RECENT_ACK_MS;
    const ack = this.recentAcks.filter((a) => a.at >= since).map((a) => a.ackId);
    this.byId.clear();
    try {
      await this.subscription.close();
      await this.call('acknowledge', ack, {});
      await this.call('modifyAckDeadline', nack, { ackDeadlineSeconds: 0 });
    } finally {
      this.subscription.removeAllListeners();
      await this.client.close();
    }
  }

  /** An acknowledge / modifyAckDeadline request for `ackIds`, in chunks, awaited. */
  private async call(method: 'acknowledge' | 'modifyAckDeadline', ackIds: string[], extra: object): Promise<void> {
    const subscription = this.subscription.name;
    for (let i = 0; i < ackIds.length; i += 1000) {
      const reqOpts = { subscription, ackIds: ackIds.slice(i, i + 1000), ...extra };
      await new Promise<void>((resolve, reject) => {
        this.client.request<unknown>({ client: 'SubscriberClient', method, reqOpts, gaxOpts: { timeout: 10_000 } }, (err) => (err ? reject(err) : resolve()));
      });
    }
  }
}
