import { createInterface } from 'node:readline';
import { loadSchema, schemaDefinition } from '../engine/avro.ts';
import { errorMessage, RtmlError } from '../engine/errors.ts';
import { EventLog, eventEncoder } from '../connectors/log/index.ts';
import { parseUri } from '../connectors/uri.ts';
import { logLine } from '../engine/log.ts';

export interface ProduceOptions {
  schema: string;
  key: string;
  partitions?: number;
  time?: string;
}

/**
 * `rtml produce`: validates each JSON line of stdin against the Avro schema, encodes it with avsc
 * and appends it keyed by `--key`. Bad lines are reported with their line number and reason; good
 * ones are still appended; the exit code is 1 when any line was rejected.
 */
export async function produceCommand(uri: string, options: ProduceOptions): Promise<void> {
  const { scheme, path } = parseUri(uri, 'produce');
  if (scheme !== 'log') throw new RtmlError('RTML_E_USAGE', `produce writes to the embedded log: use log:<dir>/<topic>, not ${uri}`);
  const type = loadSchema(options.schema, [process.cwd()], `--schema ${options.schema}`);
  const encode = eventEncoder(type, options.key, options.time, { key: '--key', time: '--time' });

  const log = EventLog.openOrCreate(path, options.partitions);
  for (const tail of log.recovered) {
    logLine(`rtml: ${uri} partition ${tail.partition}: cut a torn tail of ${tail.truncatedBytes} byte(s) at offset ${tail.offset} (${tail.reason})`);
  }
  let appended = 0;
  let rejected = 0;
  let lineNo = 0;
  const reject = (reason: string) => {
    rejected++;
    logLine(`rtml: line ${lineNo}: ${reason}`, 'warn');
  };
  try {
    const schemaId = log.registerSchema(schemaDefinition(type));
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(line) as Record<string, unknown>;
      } catch (err) {
        reject(`invalid JSON: ${errorMessage(err)}`);
        continue;
      }
      const event = encode(value);
      if ('reason' in event) {
        reject(event.reason);
        continue;
      }
      log.append(event.key, event.time, schemaId, event.payload);
      appended++;
    }
  } finally {
    log.close();
  }
  logLine(`rtml: appended ${appended.toLocaleString('en-US')} record(s) to ${uri} (${log.partitions} partition(s)), rejected ${rejected}`);
  if (rejected > 0) process.exitCode = 1;
}
