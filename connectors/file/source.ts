import { open, type FileHandle } from 'node:fs/promises';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { InputRecord, SourceConnector, SourceOpenOptions, SourceReader } from '../../engine/io.ts';
import { jsonRecord } from '../payload.ts';

const CHUNK_BYTES = 1 << 20;
const NEWLINE = 0x0a;

/**
 * A JSON-lines file as a one-partition source. Offsets are 0-based line indexes; blank lines are
 * skipped. Bounded by the file's size at open, unless following (then it reads appends as they come).
 * Resuming from a checkpoint re-reads the file and skips the lines already processed.
 */
export function fileSource(path: string): SourceConnector {
  return {
    uri: `file:${path}`,
    async open(options: SourceOpenOptions): Promise<SourceReader> {
      const { from, to } = options.range ?? {};
      if ((from && !('offset' in from)) || (to && !('offset' in to))) {
        throw new RtmlError('RTML_E_USAGE', `file:${path}: a file is replayed by line offsets, not by time`);
      }
      let handle: FileHandle;
      try {
        handle = await open(path, 'r');
      } catch (err) {
        throw new RtmlError('RTML_E_BINDING', `file:${path}: cannot open: ${errorMessage(err)}`);
      }
      const size = (await handle.stat()).size;
      return new JsonLinesReader(handle, options, size);
    },
  };
}

class JsonLinesReader implements SourceReader {
  readonly partitions = [0] as const;
  private readonly chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private position: number;
  private carry: Buffer = Buffer.alloc(0);
  private lines: string[] = [];
  private next = 0;
  private lineIndex = 0;
  /** Resuming from a checkpoint (or a replay's start): lines up to this index are skipped. */
  private readonly skipThrough: number;
  /** A replay's last line, and whether it was passed. */
  private readonly lastLine: number;
  private pastEnd = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly options: SourceOpenOptions,
    private readonly size: number,
  ) {
    // Starting at 'latest' skips what is there; line indexes then count from the open position.
    this.position = options.from === 'latest' && options.startAfter === undefined ? size : 0;
    const from = options.range?.from;
    this.skipThrough = options.startAfter?.get(0) ?? (from && 'offset' in from ? from.offset - 1 : -1);
    const to = options.range?.to;
    this.lastLine = to && 'offset' in to ? to.offset : Infinity;
  }

  async read(_partition: number, max: number): Promise<InputRecord[] | null> {
    const out: InputRecord[] = [];
    while (out.length < max && !this.pastEnd) {
      if (this.next >= this.lines.length && !(await this.fill())) break;
      while (this.next < this.lines.length && out.length < max && !this.pastEnd) {
        const line = this.lines[this.next++]!;
        const offset = this.lineIndex++;
        if (offset <= this.skipThrough) continue;
        if (offset > this.lastLine) {
          this.pastEnd = true;
          break;
        }
        const text = line.endsWith('\r') ? line.slice(0, -1) : line;
        if (text.trim() === '') continue;
        out.push(jsonRecord(offset, text));
      }
    }
    if (out.length > 0 || this.options.follow) return out;
    return null;
  }

  /** Reads the next chunk into whole lines; false when there is nothing more now. */
  private async fill(): Promise<boolean> {
    const limit = this.options.follow ? Infinity : this.size;
    for (;;) {
      const want = Math.min(CHUNK_BYTES, limit - this.position);
      if (want <= 0) return this.flushCarry();
      const { bytesRead } = await this.handle.read(this.chunk, 0, want, this.position);
      if (bytesRead === 0) return this.flushCarry();
      this.position += bytesRead;
      const data = this.carry.length > 0 ? Buffer.concat([this.carry, this.chunk.subarray(0, bytesRead)]) : this.chunk.subarray(0, bytesRead);
      const lastNewline = data.lastIndexOf(NEWLINE);
      if (lastNewline < 0) {
        this.carry = Buffer.from(data);
        continue;
      }
      this.lines = data.toString('utf8', 0, lastNewline).split('\n');
      this.next = 0;
      this.carry = Buffer.from(data.subarray(lastNewline + 1));
      return true;
    }
  }

  /** At the end of a bounded file a last line without a newline still counts; live, it waits. */
  private flushCarry(): boolean {
    if (this.options.follow || this.carry.length === 0) return false;
    this.lines = [this.carry.toString('utf8')];
    this.next = 0;
    this.carry = Buffer.alloc(0);
    return true;
  }

  progress(): { done: number; total: number } | undefined {
    return this.options.follow ? undefined : { done: this.position, total: this.size };
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
