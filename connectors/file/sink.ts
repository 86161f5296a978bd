import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { SinkConnector, SinkOpenOptions, SinkWriter } from '../../engine/io.ts';

/**
 * A JSON-lines file sink: one JSON value per line. A new run rewrites the file; a run resuming from
 * a checkpoint cuts it back to its length at that checkpoint and appends, so its output ends up
 * exactly as an uninterrupted run's.
 */
export function fileSink(path: string): SinkConnector {
  return {
    uri: `file:${path}`,
    async open(options: SinkOpenOptions = {}): Promise<SinkWriter> {
      const resume = options.resume;
      let handle: FileHandle;
      try {
        await mkdir(dirname(path), { recursive: true });
        handle = await open(path, typeof resume === 'number' ? 'r+' : 'w');
        if (typeof resume === 'number') await handle.truncate(resume);
      } catch (err) {
        throw new RtmlError('RTML_E_BINDING', `file:${path}: cannot open for writing: ${errorMessage(err)}`);
      }
      return new JsonLinesWriter(handle, typeof resume === 'number' ? resume : 0);
    },
  };
}

class JsonLinesWriter implements SinkWriter {
  private buffer: string[] = [];
  private bytes = 0;

  constructor(
    private readonly handle: FileHandle,
    /** Bytes in the file: where the next write goes. */
    private length: number,
  ) {}

  get pending(): number {
    return this.bytes;
  }

  write(value: unknown): void {
    const line = `${JSON.stringify(value)}\n`;
    this.buffer.push(line);
    this.bytes += line.length;
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const data = Buffer.from(this.buffer.join(''));
    this.buffer = [];
    this.bytes = 0;
    await this.handle.write(data, 0, data.length, this.length);
    this.length += data.length;
  }

  async checkpoint(): Promise<number> {
    await this.flush();
    await this.handle.sync();
    return this.length;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.handle.sync();
    await this.handle.close();
  }
}
