import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RtmlError } from '../engine/errors.ts';
import { LogReader, PayloadDecoder } from '../connectors/log/index.ts';
import { parseUri } from '../connectors/uri.ts';

function openLog(uri: string, command: string): LogReader {
  const { scheme, path } = parseUri(uri, command);
  if (scheme !== 'log') throw new RtmlError('RTML_E_USAGE', `${command} reads the embedded log: use log:<dir>/<topic>, not ${uri}`);
  return LogReader.open(path);
}

/** `rtml log info`: partitions with their offsets and sizes, and the registered schemas. */
export function logInfoCommand(uri: string): void {
  const info = openLog(uri, 'log info').info();
  const total = info.partitions.reduce((n, p) => n + p.endOffset - p.startOffset, 0);
  const lines = [`${uri}: ${info.partitions.length} partition(s), ${total.toLocaleString('en-US')} record(s), segments roll at ${info.segmentBytes} bytes`];
  for (const p of info.partitions) {
    lines.push(`  partition ${p.partition}: offsets ${p.startOffset}..${p.endOffset} (${p.endOffset - p.startOffset} records), ${p.segments} segment(s), ${p.bytes} bytes`);
  }
  lines.push(info.schemas.length === 0 ? '  schemas: none (JSON payloads use schema id 0)' : '  schemas:');
  for (const s of info.schemas) lines.push(`    id ${s.id}: ${s.name} (fingerprint ${s.fingerprint})`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export interface LogCatOptions {
  partition?: number;
  offset?: number;
  limit?: number;
  follow?: boolean;
}

/**
 * `rtml log cat`: records decoded with their writer schema, one JSON object per line, partition by
 * partition; with `--follow`, all partitions together, printing appends as they arrive until
 * interrupted.
 */
export async function logCatCommand(uri: string, options: LogCatOptions): Promise<void> {
  const follow = options.follow ?? false;
  // Following a topic not created yet (a run's sink creates it): wait for it.
  if (follow) while (!existsSync(join(parseUri(uri, 'log cat').path, 'topic.json'))) await sleep(100);
  const reader = openLog(uri, 'log cat');
  const decoder = new PayloadDecoder(reader.schemas, undefined);
  const partitions = options.partition === undefined ? [...Array(reader.partitions).keys()] : [options.partition];
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const catPartition = async (partition: number): Promise<void> => {
    const cursor = reader.cursor(partition, { from: options.offset ?? 'earliest', follow });
    let left = options.limit ?? Infinity;
    try {
      while (left > 0 && !stop.signal.aborted) {
        const lines: string[] = [];
        const n = await cursor.read(Math.min(left, 4096), (record) => {
          const decoded = decoder.decode(record);
          const head = { partition, offset: record.offset, key: record.key(), timestamp: record.timestamp, schema: record.schemaId };
          lines.push(JSON.stringify(decoded.error === undefined ? { ...head, value: decoded.value } : { ...head, error: decoded.error, payload: decoded.raw }));
        }, follow);
        if (n === null) break;
        left -= n;
        if (lines.length > 0 && !process.stdout.write(`${lines.join('\n')}\n`)) {
          await new Promise((resolve) => process.stdout.once('drain', resolve));
        }
      }
    } finally {
      await cursor.close();
    }
  };
  try {
    if (follow) await Promise.all(partitions.map(catPartition));
    else for (const partition of partitions) await catPartition(partition);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}
