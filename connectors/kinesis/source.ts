import { DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type GetShardIteratorCommandInput, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import { InputRecord, type SourceConnector, type SourceOpenOptions, type SourceReader } from '../../engine/io.ts';
import { retryWithBackoff } from '../../storage/index.ts';
import { bareAvroPayloads, payloadOf, schemaName, sourcePayloads, type PayloadFormat } from '../payload.ts';
import { kinesisClient } from './client.ts';
import { errorName, parseKinesisUri, sleep, type KinesisUri } from './uri.ts';
import { logLine } from '../../engine/log.ts';

export interface KinesisSourceOptions {
  /** Where retry notices go (default stderr). */
  log?: (message: string) => void;
}

/**
 * A Kinesis data stream as a source (`kinesis://<stream>?region=…[&endpoint=…]`).
 *
 * 1. Partitions are shards: partition i is the i-th shard in ascending shard id order as ListShards
 *    gives them at open, closed parent shards included (new shards get higher ids, so the numbering
 *    of a stream's shards is stable across restarts while they are retained). Shards created by
 *    resharding after that join the partition of their (first) parent; the checkpoint saves which
 *    shards each partition holds, so a resumed run has the same partitions (the engine restores
 *    one watermark per partition) and reads later shards in their parent's partition too.
 * 2. Offsets are a per-partition record counter (0, 1, 2, … in the order read, from where this
 *    reader started the shard, continued from `startAfter` on resume): Kinesis sequence numbers do
 *    not fit a JS number. The reader remembers the shard and sequence number of each counter value
 *    it handed out, and `checkpoint()` saves each shard's sequence number at the processed
 *    positions; a resumed reader starts each shard AFTER_SEQUENCE_NUMBER that (a shard created
 *    since, from its start). Without a checkpoint: TRIM_HORIZON (`from` earliest) or LATEST.
 *    A replay `range` (bounded) counts offsets as a run from the start does: from each shard's trim
 *    horizon (they shift as the retention period drops records). `from: { offset }` reads from the
 *    trim horizon and skips the records before it (Kinesis cannot seek to a count); `from: { time }`
 *    starts each shard with an AT_TIMESTAMP iterator (its first record stamped at or after it), so
 *    offsets then count from there and the range cannot end at an offset; `to` ends each shard at
 *    its offset, or before its first record stamped after the time. Stamps are arrival times.
 * 3. Resharding: following, a child shard yields nothing until its parents (those this reader
 *    knows) are read to their end, so a key's records stay in order. Children created while the run
 *    goes on are learnt from the parent's last GetRecords (ChildShards; else ListShards) and read in
 *    the parent's partition, at once. A following partition ends once its shards are closed, read
 *    to their end and their children known. A bounded run reads all shards at once (a partition's
 *    shards one after the other): the engine merges the partitions by event time there (and needs
 *    a head from each).
 * 4. Bounded (not following): an open shard ends when GetRecords returns no records with
 *    MillisBehindLatest 0 (caught up), a closed one when its NextShardIterator is null.
 *    Following: `[]` when a shard has nothing new; an empty shard is polled at most every 250 ms-1 s.
 * 5. Values are JSON (UTF-8), or Avro binary with the topology's reader schema; undecodable payloads
 *    come back as error records (raw: the text, or base64 of the Avro bytes), never as a throw.
 *    The record's timestamp is its ApproximateArrivalTimestamp.
 * 6. An unreachable (or not yet created) stream at open is retried with backoff, logged, for
 *    `connect-timeout` (60 s), then RTML_E_BINDING. Throttling (ProvisionedThroughputExceeded) backs
 *    off; an expired iterator is renewed after the last record read.
 */
export function kinesisSource(uri: string, options: KinesisSourceOptions = {}): SourceConnector {
  const parsed = parseKinesisUri(uri);
  return {
    uri,
    open: (opened) => KinesisSourceReader.open(uri, parsed, opened, options),
  };
}

/** Records per GetRecords call (the Kinesis maximum is 10,000). */
const GET_LIMIT = 10_000;
/** Sequence numbers kept per shard for offsets not yet checkpointed (a bound for runs without checkpoints). */
const MAX_RETAINED = 100_000;
const FOLLOW_IDLE_MIN_MS = 250;
const FOLLOW_IDLE_MAX_MS = 1_000;
const THROTTLE_MAX_MS = 5_000;
/** Following: shards that ended without naming their children are listed at most this often. */
const LIST_INTERVAL_MS = 1_000;

/** One shard being read. */
class ShardCursor {
  /** The iterator for the next GetRecords; undefined until the first read. */
  iterator: string | undefined;
  /** The shard has no more records (closed and read to its end, bounded and caught up, or past the range). */
  ended = false;
  /** The sequence number of the last record read (or the checkpointed one), for AFTER_SEQUENCE_NUMBER. */
  lastSeq: string | undefined;
  /** Its records fetched and not yet handed out (in its line's buffer). */
  pending = 0;
  /** Saved in the checkpoint, no longer listed (past the retention period): nothing to read. */
  gone = false;
  /** Following: not polled again before this time after an empty read or throttling. */
  pollAt = 0;
  idleMs = 0;
  throttleMs = 0;

  constructor(
    readonly shard: Shard,
    readonly id: string,
    /** Created after open (resharding during a live run), or a child of a resumed shard: read from its start. */
    readonly fromStart: boolean,
  ) {}
}

/**
 * A partition: the shard it was opened for, then (following) the shards created from it by
 * resharding while the run goes on. Offsets count the records of the partition, in the order they
 * were read; each offset's shard and sequence number are kept until a checkpoint passes it.
 */
class Line {
  readonly members: ShardCursor[] = [];
  /** The offset of the next record. */
  next: number;
  /** Shards and sequence numbers of offsets first, first+1, …; trimmed as checkpoints pass them. */
  private first: number;
  private entries: { shard: string; seq: string }[] = [];
  /** Per shard: the sequence number of its last record before `first` (checkpointed, or resumed). */
  private readonly base = new Map<string, string>();
  /** Records fetched and not yet handed out, and the shard of each. */
  buffer: InputRecord[] = [];
  owners: ShardCursor[] = [];
  /** Following, several shards readable: which one to poll first. */
  turn = 0;

  constructor(startAfter: number | undefined) {
    this.next = startAfter === undefined ? 0 : startAfter + 1;
    this.first = this.next;
  }

  resumeAt(shard: string, seq: string): void {
    this.base.set(shard, seq);
  }

  /** Gives the record `seq` of `cursor` the next offset. */
  take(cursor: ShardCursor, seq: string): number {
    cursor.lastSeq = seq;
    this.entries.push({ shard: cursor.id, seq });
    if (this.entries.length > 2 * MAX_RETAINED) this.prune(this.first + MAX_RETAINED - 1);
    return this.next++;
  }

  /** Per shard, the sequence number of its last record at or before `offset`; undefined if no longer known. */
  seqsAt(offset: number): Map<string, string> | undefined {
    if (offset < this.first - 1) return undefined;
    const seqs = new Map(this.base);
    const n = Math.min(offset - this.first + 1, this.entries.length);
    for (let i = 0; i < n; i++) seqs.set(this.entries[i]!.shard, this.entries[i]!.seq);
    return seqs;
  }

  /** The shards' positions before any offset not yet checkpointed. */
  baseSeqs(): ReadonlyMap<string, string> {
    return this.base;
  }

  /** Forgets the offsets up to `offset` (a checkpoint saved them), keeping each shard's last position. */
  prune(offset: number): void {
    const n = Math.min(offset - this.first + 1, this.entries.length);
    if (n <= 0) return;
    for (let i = 0; i < n; i++) this.base.set(this.entries[i]!.shard, this.entries[i]!.seq);
    this.entries.splice(0, n);
    this.first += n;
  }
}

class KinesisSourceReader implements SourceReader {
  readonly partitions: readonly number[];
  readonly decodesWithReaderSchema: boolean;
  private readonly payloads: PayloadFormat;
  /** Every shard known: those listed at open, then those created by resharding. */
  private readonly cursors: ShardCursor[];
  private readonly lineOf = new Map<ShardCursor, Line>();
  private done = 0;
  private closed = false;
  /** Replay range: records before `fromOffset` are skipped; a shard ends past `toOffset` or `toTime`. */
  private readonly fromOffset: number;
  private readonly fromTime: number | undefined;
  private readonly toOffset: number;
  private readonly toTime: number;
  /** Not following, or a replay range: each shard ends (see 4). */
  private readonly bounded: boolean;
  /** Following: a ListShards call under way (children of a shard that ended without naming them). */
  private listing: Promise<void> | undefined;
  /** Following: no ListShards call before this time (one a second at most). */
  private listAt = 0;

  private constructor(
    private readonly uri: string,
    private readonly parsed: KinesisUri,
    private readonly client: KinesisClient,
    private readonly lines: Line[],
    private readonly options: SourceOpenOptions,
    private readonly log: (message: string) => void,
  ) {
    this.partitions = lines.map((_, p) => p);
    this.decodesWithReaderSchema = options.readerSchema !== undefined;
    this.payloads = sourcePayloads(options.readerSchema, (type) => bareAvroPayloads(type, `undecodable Avro (${schemaName(type)})`));
    this.cursors = lines.flatMap((line) => line.members);
    for (const line of lines) for (const cursor of line.members) this.lineOf.set(cursor, line);
    const { from, to } = options.range ?? {};
    this.fromOffset = from !== undefined && 'offset' in from ? from.offset : 0;
    this.fromTime = from !== undefined && 'time' in from ? from.time : undefined;
    this.toOffset = to !== undefined && 'offset' in to ? to.offset : Infinity;
    this.toTime = to !== undefined && 'time' in to ? to.time : Infinity;
    this.bounded = !options.follow || options.range?.to !== undefined;
  }

  static async open(uri: string, parsed: KinesisUri, options: SourceOpenOptions, extra: KinesisSourceOptions): Promise<KinesisSourceReader> {
    const { from, to } = options.range ?? {};
    if (from !== undefined && 'time' in from && to !== undefined && 'offset' in to) {
      throw new RtmlError('RTML_E_BINDING', `${uri}: a Kinesis replay from a time counts offsets from there, so it cannot end at an offset: give --to a time too, or --from an offset`);
    }
    const log = extra.log ?? ((m: string) => logLine(m));
    const client = kinesisClient(parsed);
    try {
      const shards = await listShardsRetrying(client, parsed, uri, log);
      const listed = new Map(shards.map((shard) => [shard.ShardId!, shard]));
      const { seqs, layout } = resumeState(options.resume);
      // Partitions as the checkpoint had them (the engine restores one watermark per partition),
      // else one per shard; a shard in none (created by resharding since) joins its parent's.
      const ids = layout ?? shards.map((shard) => [shard.ShardId!]);
      const placed = new Map<string, number>();
      ids.forEach((members, p) => members.forEach((id) => placed.set(id, p)));
      for (const shard of shards) {
        if (placed.has(shard.ShardId!)) continue;
        const p = placed.get(shard.ParentShardId ?? '') ?? placed.get(shard.AdjacentParentShardId ?? '') ?? 0;
        ids[p]!.push(shard.ShardId!);
        placed.set(shard.ShardId!, p);
      }
      const lines = ids.map((members, p) => {
        const line = new Line(options.startAfter?.get(p));
        for (const id of members) {
          const shard = listed.get(id);
          // Resuming, a shard the checkpoint has no position for but a parent of: created by
          // resharding after that run opened, so all of it is new.
          const child = layout !== undefined && seqs[id] === undefined && [shard?.ParentShardId, shard?.AdjacentParentShardId].some((parent) => parent !== undefined && placed.has(parent));
          const cursor = new ShardCursor(shard ?? ({ ShardId: id } as Shard), id, child);
          cursor.ended = cursor.gone = shard === undefined;
          const seq = seqs[id];
          if (seq !== undefined) {
            cursor.lastSeq = seq;
            line.resumeAt(id, seq);
          }
          line.members.push(cursor);
        }
        return line;
      });
      return new KinesisSourceReader(uri, parsed, client, lines, options, log);
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  async read(partition: number, max: number): Promise<InputRecord[] | null> {
    const line = this.lines[partition];
    if (line === undefined) throw new RtmlError('RTML_E_BINDING', `${this.uri}: no partition ${partition}`);
    if (line.buffer.length > 0) return this.take(line, max);
    if (!this.bounded) {
      // A child shard waits until its parents are read to their end, so a key's records stay in
      // order across a reshard. (Bounded runs need not: the engine merges every partition's
      // records by event time there, and must have a head from each one to do so.)
      if (this.listing !== undefined) await this.listing;
      const orphan = line.members.find((m) => m.ended && !m.gone && !this.cursors.some((c) => this.parentsOf(c).includes(m)));
      if (orphan !== undefined && Date.now() >= this.listAt) this.adopt(orphan, undefined);
      const readable = line.members.filter((c) => !c.ended && this.parentsOf(c).every((parent) => parent.ended && parent.pending === 0));
      const now = Date.now();
      for (let i = 0; i < readable.length && line.buffer.length === 0; i++) {
        const cursor = readable[(line.turn + i) % readable.length]!;
        if (now < cursor.pollAt) continue;
        line.turn = (line.turn + i + 1) % readable.length;
        await this.fetch(cursor, line);
      }
      if (line.buffer.length === 0) return this.lineEnded(line) ? null : [];
    } else {
      // Bounded: keep reading until there are records or the shards end (one after the other).
      for (let cursor = line.members.find((c) => !c.ended); cursor !== undefined && line.buffer.length === 0; cursor = line.members.find((c) => !c.ended)) {
        await this.fetch(cursor, line);
      }
      if (line.buffer.length === 0) return null;
    }
    return this.take(line, max);
  }

  checkpoint(positions: ReadonlyMap<number, number>): SavedState {
    const saved: Record<string, string> = {};
    for (const [p, line] of this.lines.entries()) {
      const offset = positions.get(p);
      if (offset === undefined) {
        for (const [shard, seq] of line.baseSeqs()) saved[shard] = seq;
        continue;
      }
      const seqs = line.seqsAt(offset);
      if (seqs === undefined) {
        throw new RtmlError('RTML_E_CHECKPOINT', `${this.uri}: partition ${p} (shard ${line.members[0]!.id}) has no sequence number for offset ${offset} (more than ${MAX_RETAINED} records read ahead of the checkpoint)`);
      }
      for (const [shard, seq] of seqs) saved[shard] = seq;
      line.prune(offset);
    }
    return { shards: saved, partitions: this.lines.map((line) => line.members.map((m) => m.id)) };
  }

  progress(): { done: number; total: number } | undefined {
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }

  private take(line: Line, max: number): InputRecord[] {
    const n = Math.min(max, line.buffer.length);
    const out = line.buffer.length <= max ? line.buffer : line.buffer.slice(0, max);
    for (let i = 0; i < n; i++) line.owners[i]!.pending--;
    line.buffer = line.buffer.length <= max ? [] : line.buffer.slice(max);
    line.owners = line.owners.length <= max ? [] : line.owners.slice(max);
    this.done += out.length;
    return out;
  }

  private parentsOf(cursor: ShardCursor): ShardCursor[] {
    const ids = [cursor.shard.ParentShardId, cursor.shard.AdjacentParentShardId];
    return this.cursors.filter((c) => c !== cursor && ids.includes(c.id));
  }

  /**
   * Following: a partition ends once all its shards are read to their end and each one's children
   * (a closed shard always has some) are known and read in other partitions; else more may come.
   */
  private lineEnded(line: Line): boolean {
    return line.members.every((m) => m.ended && m.pending === 0 && (m.gone || this.cursors.some((c) => this.parentsOf(c).includes(m))));
  }

  /**
   * Following: shards created by resharding `parent` (from GetRecords' ChildShards, else from
   * ListShards) are read in the partition of their first parent, after their parents.
   */
  private adopt(parent: ShardCursor, children: { ShardId?: string; ParentShards?: string[] }[] | undefined): void {
    if (children === undefined || children.length === 0) {
      if (this.listing !== undefined) return;
      this.listAt = Date.now() + LIST_INTERVAL_MS;
      this.listing = listShards(this.client, this.parsed.stream)
        .then((shards) => this.adopt(parent, shards.filter((s) => s.ParentShardId === parent.id || s.AdjacentParentShardId === parent.id).map((s) => ({ ShardId: s.ShardId, ParentShards: [s.ParentShardId, s.AdjacentParentShardId].filter((id): id is string => id !== undefined) }))))
        .catch((err: unknown) => this.log(`rtml: kinesis ${this.parsed.stream}: listing the shards after ${parent.id} ended failed (${errorMessage(err)}); retrying in a second`))
        .finally(() => (this.listing = undefined));
      return;
    }
    for (const child of children) {
      const id = child.ShardId!;
      if (this.cursors.some((c) => c.id === id)) continue;
      const [first, adjacent] = child.ParentShards ?? [parent.id];
      const cursor = new ShardCursor({ ShardId: id, ParentShardId: first, AdjacentParentShardId: adjacent } as Shard, id, true);
      const owner = this.cursors.find((c) => c.id === first) ?? parent;
      const line = this.lineOf.get(owner)!;
      line.members.push(cursor);
      this.lineOf.set(cursor, line);
      this.cursors.push(cursor);
    }
  }

  /** One GetRecords call on the shard (renewing or creating its iterator as needed), decoded into its line's buffer. */
  private async fetch(cursor: ShardCursor, line: Line): Promise<void> {
    const bounded = this.bounded;
    for (;;) {
      if (cursor.iterator === undefined) cursor.iterator = await this.iterator(cursor);
      if (cursor.iterator === undefined) {
        cursor.ended = true;
        return;
      }
      let res;
      try {
        res = await this.client.send(new GetRecordsCommand({ ShardIterator: cursor.iterator, Limit: GET_LIMIT }));
      } catch (err) {
        const name = errorName(err);
        if (name === 'ExpiredIteratorException') {
          cursor.iterator = undefined;
          continue;
        }
        if (name === 'ProvisionedThroughputExceededException' || name === 'LimitExceededException' || name === 'KMSThrottlingException') {
          cursor.throttleMs = Math.min(THROTTLE_MAX_MS, cursor.throttleMs === 0 ? 200 : cursor.throttleMs * 2);
          if (!bounded) {
            cursor.pollAt = Date.now() + cursor.throttleMs;
            return;
          }
          await sleep(cursor.throttleMs);
          continue;
        }
        throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: GetRecords on shard ${cursor.id} failed: ${name}: ${errorMessage(err)}`, { cause: err });
      }
      cursor.throttleMs = 0;
      const records = res.Records ?? [];
      let added = 0;
      for (const r of records) {
        const time = r.ApproximateArrivalTimestamp?.getTime() ?? Number.NaN;
        if (this.fromTime !== undefined && time < this.fromTime) continue; // before an AT_TIMESTAMP start
        if (time > this.toTime) {
          cursor.ended = true;
          break;
        }
        const offset = line.take(cursor, r.SequenceNumber!);
        if (offset > this.toOffset) {
          cursor.ended = true;
          break;
        }
        if (offset < this.fromOffset) continue;
        const data = r.Data ?? new Uint8Array(0);
        line.buffer.push(this.payloads.decode(payloadOf(Buffer.from(data.buffer, data.byteOffset, data.byteLength), offset, time)));
        line.owners.push(cursor);
        added++;
        if (offset === this.toOffset) {
          cursor.ended = true;
          break;
        }
      }
      cursor.pending += added;
      if (cursor.ended) return;
      cursor.iterator = res.NextShardIterator ?? undefined;
      if (res.NextShardIterator == null) {
        cursor.ended = true;
        if (!bounded) this.adopt(cursor, res.ChildShards);
      } else if (records.length === 0 && res.MillisBehindLatest === 0 && (bounded || cursor.shard.SequenceNumberRange?.EndingSequenceNumber !== undefined)) {
        // Caught up: the end of a bounded input, or of a closed shard (kinesis-mock keeps giving
        // a closed shard a next iterator where AWS gives none).
        cursor.ended = true;
        if (!bounded) this.adopt(cursor, res.ChildShards);
      }
      if (records.length === 0 && !cursor.ended) {
        if (!bounded) {
          cursor.idleMs = Math.min(FOLLOW_IDLE_MAX_MS, cursor.idleMs === 0 ? FOLLOW_IDLE_MIN_MS : cursor.idleMs * 2);
          cursor.pollAt = Date.now() + cursor.idleMs;
        }
      } else {
        cursor.idleMs = 0;
      }
      return;
    }
  }

  private async iterator(cursor: ShardCursor): Promise<string | undefined> {
    const stream = this.parsed.stream;
    const input: GetShardIteratorCommandInput =
      cursor.lastSeq !== undefined
        ? { StreamName: stream, ShardId: cursor.id, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: cursor.lastSeq }
        : !cursor.fromStart && this.fromTime !== undefined
          ? { StreamName: stream, ShardId: cursor.id, ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(this.fromTime) }
          : { StreamName: stream, ShardId: cursor.id, ShardIteratorType: !cursor.fromStart && this.options.from === 'latest' && this.options.range === undefined ? 'LATEST' : 'TRIM_HORIZON' };
    try {
      // Throttled calls wait and try again, for as long as it takes.
      const res = await retryWithBackoff(() => this.client.send(new GetShardIteratorCommand(input)), {
        initialMs: 200,
        maxMs: THROTTLE_MAX_MS,
        retryable: (err) => (THROTTLED.has(errorName(err)) ? errorName(err) : undefined),
        giveUp: ({ error }) => error as Error, // only with a budget or a signal, which this has not
      });
      return res.ShardIterator ?? undefined;
    } catch (err) {
      throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: GetShardIterator on shard ${cursor.id} failed: ${errorName(err)}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

/** What a checkpoint saves: each shard's last processed sequence number, and the shards of each partition. */
interface SavedState {
  shards: Record<string, string>;
  partitions: string[][];
}

/** The saved state, checked (a bare `{ [shardId]: sequenceNumber }` from older checkpoints too). */
function resumeState(resume: unknown): { seqs: Record<string, string>; layout: string[][] | undefined } {
  if (resume === undefined || resume === null) return { seqs: {}, layout: undefined };
  const bad = () => new RtmlError('RTML_E_CHECKPOINT', `the checkpoint's Kinesis positions are not { shards: { shardId: sequenceNumber }, partitions: [[shardId, …], …] }: ${JSON.stringify(resume)}`);
  const isSeqs = (v: unknown): v is Record<string, string> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' && /^\d+$/.test(x));
  if (isSeqs(resume)) return { seqs: resume, layout: undefined };
  const { shards, partitions } = resume as Partial<SavedState>;
  if (!isSeqs(shards) || !Array.isArray(partitions) || !partitions.every((p) => Array.isArray(p) && p.length > 0 && p.every((id) => typeof id === 'string'))) throw bad();
  return { seqs: shards, layout: partitions.map((p) => [...p]) };
}

/** Throttling answers: the call is made again after a wait. */
const THROTTLED = new Set(['ProvisionedThroughputExceededException', 'LimitExceededException']);

/** Errors that waiting will not fix: reported at once rather than retried. */
const FATAL = new Set(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'InvalidArgumentException', 'ValidationException', 'CredentialsProviderError']);

async function listShardsRetrying(client: KinesisClient, parsed: KinesisUri, uri: string, log: (m: string) => void): Promise<Shard[]> {
  const reasonOf = (err: unknown) => `${errorName(err)}: ${errorMessage(err)}`;
  return retryWithBackoff(
    async () => {
      try {
        // A stream still being created lists its shards but refuses to read them: wait until it is ACTIVE.
        const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: parsed.stream }));
        const status = summary.StreamDescriptionSummary?.StreamStatus;
        if (status === 'CREATING' || status === 'DELETING') throw Object.assign(new Error(`the stream is ${status}`), { name: 'StreamNotActive' });
        return await listShards(client, parsed.stream);
      } catch (err) {
        throw FATAL.has(errorName(err)) ? new RtmlError('RTML_E_BINDING', `${uri}: kinesis ${parsed.stream}: ${reasonOf(err)}`, { cause: err }) : err;
      }
    },
    {
      initialMs: 500,
      maxMs: 5000,
      giveUpAfterMs: parsed.connectTimeoutMs,
      retryable: (err) => (err instanceof RtmlError ? undefined : reasonOf(err)),
      onRetry: ({ reason, delayMs }) => log(`rtml: kinesis ${parsed.stream} unreachable (${reason}); retrying in ${seconds(delayMs)}`),
      onRecovered: (failures) => log(`rtml: kinesis ${parsed.stream} reachable again after ${failures} retr${failures === 1 ? 'y' : 'ies'}`),
      giveUp: ({ reason, error }) => new RtmlError('RTML_E_BINDING', `${uri}: kinesis ${parsed.stream} unreachable for ${seconds(parsed.connectTimeoutMs)} (${reason}); giving up`, { cause: error }),
    },
  );
}

/** Every shard of the stream (closed ones included), in ascending shard id order. */
export async function listShards(client: KinesisClient, stream: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(new ListShardsCommand(token === undefined ? { StreamName: stream } : { NextToken: token }));
    shards.push(...(res.Shards ?? []));
    token = res.NextToken ?? undefined;
  } while (token !== undefined);
  if (shards.length === 0) throw Object.assign(new Error(`stream ${stream} has no shards`), { name: 'NoShards' });
  return shards.sort((a, b) => (a.ShardId! < b.ShardId! ? -1 : a.ShardId! > b.ShardId! ? 1 : 0));
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
