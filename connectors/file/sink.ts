import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { SinkConnector, SinkWriter } from '../../engine/io.ts';

/** A JSON-lines file sink: one JSON value per line. The file is rewritten by each run. */
export function fileSink(path: string): SinkConnector {
  return {
    uri: `file:${path}`,
    async open(): Promise<SinkWriter> {
      let handle: FileHandle;
      try {
        await mkdir(dirname(path), { recursive: true });
        handle = await open(path, 'w');
      } catch (err) {
        throw new RtmlError('RTML_E_BINDING', `file:${path}: cannot open for writing: ${errorMessage(err)}`);
      }
      return new JsonLinesWriter(handle);
    },
  };
}

class JsonLinesWriter implements SinkWriter {
  private buffer: string[] = [];
  private bytes = 0;

  constructor(private readonly handle: FileHandle) {}

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
    const text = this.buffer.join('');
    this.buffer = [];
    this.bytes = 0;
    await this.handle.write(text);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.handle.sync();
    await this.handle.close();
  }
}
