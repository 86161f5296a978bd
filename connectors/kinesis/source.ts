import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type GetShardIteratorCommandInput, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import type { Type } from 'avsc';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import { InputRecord, type SourceConnector, type SourceOpenOptions, type SourceReader } from '../../engine/io.ts';
import { kinesisClient } from './client.ts';
import { errorName, parseKinesisUri, sleep, type KinesisUri } from './uri.ts';

export interface KinesisSourceOptions {
  /** Where retry notices go (default stderr). */
  log?: (message: string) => void;
}

/**
 * A Kinesis data stream as a source (`kinesis://<stream>?region=…[&endpoint=…]`).
 *
 * 1. Partitions are shards: partition i is the i-th shard in ascending shard id order as ListShards
 *    gives them at open, closed parent shards included (new shards get higher ids, so the numbering
 *    of a stream's shards is stable across restarts while they are retained).
 * 2. Offsets are a per-shard record counter (0, 1, 2, … from where this reader started the shard,
 *    continued from `startAfter` on resume): Kinesis sequence numbers do not fit a JS number. The
 *    reader remembers the sequence number of each counter value it handed out, and `checkpoint()`
 *    saves `{ [shardId]: sequenceNumber }` of the processed positions; a resumed reader starts each
 *    shard AFTER_SEQUENCE_NUMBER that. Without a checkpoint: TRIM_HORIZON (`from` earliest) or LATEST.
 * 3. Resharding: following, a child shard yields nothing until its parents (those this reader
 *    knows) are read to their end, so a key's records stay in order. A bounded run reads all shards
 *    at once: the engine merges the partitions by event time there (and needs a head from each).
 *    Shards created after open are not read by a following run (it logs so): a restart reads them.
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

class ShardCursor {
  /** The iterator for the next GetRecords; undefined until the first read. */
  iterator: string | undefined;
  /** The shard has no more records (closed and read to its end, or bounded and caught up). */
  ended = false;
  /** The counter of the next record. */
  next: number;
  /** Sequence numbers of offsets first, first+1, …; trimmed as checkpoints pass them. */
  private first: number;
  private seqs: string[] = [];
  /** The sequence number of the last record read (or the checkpointed one), for AFTER_SEQUENCE_NUMBER. */
  lastSeq: string | undefined;
  /** Records read and not yet handed out (a GetRecords batch larger than `max`). */
  buffered: InputRecord[] = [];
  /** Following: not polled again before this time after an empty read or throttling. */
  pollAt = 0;
  idleMs = 0;
  throttleMs = 0;

  constructor(
    readonly shard: Shard,
    readonly id: string,
    startAfter: number | undefined,
    resumeSeq: string | undefined,
  ) {
    this.next = startAfter === undefined ? 0 : startAfter + 1;
    this.first = this.next;
    if (startAfter !== undefined && resumeSeq !== undefined) {
      this.first = startAfter;
      this.seqs.push(resumeSeq);
    }
    this.lastSeq = resumeSeq;
  }

  /** Gives the record with sequence number `seq` the next offset. */
  take(seq: string): number {
    const offset = this.next++;
    if (this.seqs.length === 0) this.first = offset;
    this.seqs.push(seq);
    this.lastSeq = seq;
    if (this.seqs.length > 2 * MAX_RETAINED) {
      this.seqs.splice(0, MAX_RETAINED);
      this.first += MAX_RETAINED;
    }
    return offset;
  }

  seqAt(offset: number): string | undefined {
    return offset >= this.first ? this.seqs[offset - this.first] : undefined;
  }

  /** Forgets the sequence numbers before `offset` (a checkpoint saved it). */
  prune(offset: number): void {
    const n = Math.min(offset - this.first, this.seqs.length - 1);
    if (n > 0) {
      this.seqs.splice(0, n);
      this.first += n;
    }
  }
}

class KinesisSourceReader implements SourceReader {
  readonly partitions: readonly number[];
  readonly decodesWithReaderSchema: boolean;
  private done = 0;
  private closed = false;
  private warnedChildren = false;

  private constructor(
    private readonly uri: string,
    private readonly parsed: KinesisUri,
    private readonly client: KinesisClient,
    private readonly cursors: ShardCursor[],
    private readonly options: SourceOpenOptions,
    private readonly log: (message: string) => void,
  ) {
    this.partitions = cursors.map((_, p) => p);
    this.decodesWithReaderSchema = options.readerSchema !== undefined;
  }

  static async open(uri: string, parsed: KinesisUri, options: SourceOpenOptions, extra: KinesisSourceOptions): Promise<KinesisSourceReader> {
    if (options.range !== undefined) throw new RtmlError('RTML_E_BINDING', `${uri}: a Kinesis source cannot replay a range (offsets are per-run counters); replay from a log or file`);
    const log = extra.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const client = kinesisClient(parsed);
    try {
      const shards = await listShardsRetrying(client, parsed, uri, log);
      const resume = resumeState(options.resume);
      const cursors = shards.map((shard, p) => new ShardCursor(shard, shard.ShardId!, options.startAfter?.get(p), resume[shard.ShardId!]));
      return new KinesisSourceReader(uri, parsed, client, cursors, options, log);
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  async read(partition: number, max: number): Promise<InputRecord[] | null> {
    const cursor = this.cursors[partition];
    if (cursor === undefined) throw new RtmlError('RTML_E_BINDING', `${this.uri}: no partition ${partition}`);
    if (cursor.buffered.length > 0) return this.take(cursor, max);
    if (cursor.ended) return null;
    if (this.options.follow) {
      // A child shard waits until its parents are read to their end, so a key's records stay in
      // order across a reshard. (Bounded runs need not: the engine merges every partition's
      // records by event time there, and must have a head from each one to do so.)
      if (this.parentsOf(cursor).some((parent) => !parent.ended || parent.buffered.length > 0)) return [];
      if (Date.now() < cursor.pollAt) return [];
      const records = await this.fetch(cursor);
      if (records.length === 0 && !cursor.ended) return [];
      cursor.buffered = records;
    } else {
      // Bounded: keep reading until there are records or the shard ends.
      while (!cursor.ended && cursor.buffered.length === 0) cursor.buffered = await this.fetch(cursor);
    }
    if (cursor.buffered.length === 0) return cursor.ended ? null : [];
    return this.take(cursor, max);
  }

  checkpoint(positions: ReadonlyMap<number, number>): Record<string, string> {
    const saved: Record<string, string> = {};
    for (const [partition, offset] of positions) {
      const cursor = this.cursors[partition];
      if (cursor === undefined) continue;
      const seq = cursor.seqAt(offset);
      if (seq === undefined) {
        throw new RtmlError('RTML_E_CHECKPOINT', `${this.uri}: shard ${cursor.id} has no sequence number for offset ${offset} (more than ${MAX_RETAINED} records read ahead of the checkpoint)`);
      }
      saved[cursor.id] = seq;
      cursor.prune(offset);
    }
    return saved;
  }

  progress(): { done: number; total: number } | undefined {
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }

  private take(cursor: ShardCursor, max: number): InputRecord[] {
    const out = cursor.buffered.length <= max ? cursor.buffered : cursor.buffered.slice(0, max);
    cursor.buffered = cursor.buffered.length <= max ? [] : cursor.buffered.slice(max);
    this.done += out.length;
    return out;
  }

  private parentsOf(cursor: ShardCursor): ShardCursor[] {
    const ids = [cursor.shard.ParentShardId, cursor.shard.AdjacentParentShardId];
    return this.cursors.filter((c) => c !== cursor && ids.includes(c.id));
  }

  /** One GetRecords call on the shard (renewing or creating its iterator as needed), decoded. */
  private async fetch(cursor: ShardCursor): Promise<InputRecord[]> {
    const bounded = !this.options.follow;
    for (;;) {
      if (cursor.iterator === undefined) cursor.iterator = await this.iterator(cursor);
      if (cursor.iterator === undefined) {
        cursor.ended = true;
        return [];
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
            return [];
          }
          await sleep(cursor.throttleMs);
          continue;
        }
        throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: GetRecords on shard ${cursor.id} failed: ${name}: ${errorMessage(err)}`, { cause: err });
      }
      cursor.throttleMs = 0;
      const records = res.Records ?? [];
      const out = records.map((r) => {
        const offset = cursor.take(r.SequenceNumber!);
        const time = r.ApproximateArrivalTimestamp?.getTime() ?? Number.NaN;
        return decode(offset, r.Data ?? new Uint8Array(0), time, this.options.readerSchema);
      });
      cursor.iterator = res.NextShardIterator ?? undefined;
      if (res.NextShardIterator == null) {
        cursor.ended = true;
        if (this.options.follow && !this.warnedChildren && (res.ChildShards?.length ?? 0) > 0) {
          const known = new Set(this.cursors.map((c) => c.id));
          const unknown = res.ChildShards!.map((c) => c.ShardId!).filter((id) => !known.has(id));
          if (unknown.length > 0) {
            this.warnedChildren = true;
            this.log(`rtml: kinesis ${this.parsed.stream}: shard ${cursor.id} was resharded into ${unknown.join(', ')}, which this run does not read; restart it (from its checkpoint) to read them`);
          }
        }
      } else if (records.length === 0 && res.MillisBehindLatest === 0 && (bounded || cursor.shard.SequenceNumberRange?.EndingSequenceNumber !== undefined)) {
        // Caught up: the end of a bounded input, or of a closed shard (kinesis-mock keeps giving
        // a closed shard a next iterator where AWS gives none).
        cursor.ended = true;
      }
      if (records.length === 0 && !cursor.ended) {
        if (!bounded) {
          cursor.idleMs = Math.min(FOLLOW_IDLE_MAX_MS, cursor.idleMs === 0 ? FOLLOW_IDLE_MIN_MS : cursor.idleMs * 2);
          cursor.pollAt = Date.now() + cursor.idleMs;
        }
      } else {
        cursor.idleMs = 0;
      }
      return out;
    }
  }

  private async iterator(cursor: ShardCursor): Promise<string | undefined> {
    const input: GetShardIteratorCommandInput =
      cursor.lastSeq !== undefined
        ? { StreamName: this.parsed.stream, ShardId: cursor.id, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: cursor.lastSeq }
        : { StreamName: this.parsed.stream, ShardId: cursor.id, ShardIteratorType: this.options.from === 'latest' ? 'LATEST' : 'TRIM_HORIZON' };
    for (let delay = 200; ; delay = Math.min(THROTTLE_MAX_MS, delay * 2)) {
      try {
        const res = await this.client.send(new GetShardIteratorCommand(input));
        return res.ShardIterator ?? undefined;
      } catch (err) {
        const name = errorName(err);
        if (name === 'ProvisionedThroughputExceededException' || name === 'LimitExceededException') {
          await sleep(delay);
          continue;
        }
        throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: GetShardIterator on shard ${cursor.id} failed: ${name}: ${errorMessage(err)}`, { cause: err });
      }
    }
  }
}

function decode(offset: number, data: Uint8Array, time: number, schema: Type | undefined): InputRecord {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (schema !== undefined) {
    try {
      return new InputRecord(offset, schema.fromBuffer(bytes), undefined, undefined, time);
    } catch (err) {
      return new InputRecord(offset, undefined, `undecodable Avro (${schema.name ?? schema.typeName}): ${errorMessage(err)}`, bytes.toString('base64'), time);
    }
  }
  const text = bytes.toString('utf8');
  try {
    return new InputRecord(offset, JSON.parse(text), undefined, undefined, time);
  } catch (err) {
    return new InputRecord(offset, undefined, `invalid JSON: ${errorMessage(err)}`, text, time);
  }
}

/** The saved `{ [shardId]: sequenceNumber }`, checked. */
function resumeState(resume: unknown): Record<string, string> {
  if (resume === undefined || resume === null) return {};
  if (typeof resume !== 'object' || Array.isArray(resume) || Object.values(resume).some((v) => typeof v !== 'string' || !/^\d+$/.test(v))) {
    throw new RtmlError('RTML_E_CHECKPOINT', `the checkpoint's Kinesis positions are not { shardId: sequenceNumber }: ${JSON.stringify(resume)}`);
  }
  return resume as Record<string, string>;
}

/** Errors that waiting will not fix: reported at once rather than retried. */
const FATAL = new Set(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'InvalidArgumentException', 'ValidationException', 'CredentialsProviderError']);

async function listShardsRetrying(client: KinesisClient, parsed: KinesisUri, uri: string, log: (m: string) => void): Promise<Shard[]> {
  const deadline = Date.now() + parsed.connectTimeoutMs;
  let delay = 500;
  let failures = 0;
  for (;;) {
    try {
      const shards = await listShards(client, parsed.stream);
      if (failures > 0) log(`rtml: kinesis ${parsed.stream} reachable again after ${failures} retr${failures === 1 ? 'y' : 'ies'}`);
      return shards;
    } catch (err) {
      const name = errorName(err);
      const reason = `${name}: ${errorMessage(err)}`;
      if (FATAL.has(name)) throw new RtmlError('RTML_E_BINDING', `${uri}: kinesis ${parsed.stream}: ${reason}`, { cause: err });
      if (Date.now() + delay > deadline) {
        throw new RtmlError('RTML_E_BINDING', `${uri}: kinesis ${parsed.stream} unreachable for ${seconds(parsed.connectTimeoutMs)} (${reason}); giving up`, { cause: err });
      }
      failures++;
      log(`rtml: kinesis ${parsed.stream} unreachable (${reason}); retrying in ${seconds(delay)}`);
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }
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
