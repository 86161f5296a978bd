import { Command, InvalidArgumentError } from 'commander';
import { ErrorCodes, RtmlError, errorMessage } from '../engine/errors.ts';
import { logCatCommand, logInfoCommand } from './log.ts';
import { produceCommand } from './produce.ts';
import { runCommand } from './run.ts';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

const program = new Command('rtml').description('rtml: real-time ML stream processing').showHelpAfterError();

program
  .command('run')
  .description('run a topology file over its sources until bounded input ends (or live with --follow)')
  .argument('<topology>', 'topology file (.ts) whose default export is defineTopology(...)')
  .option('--source <name=uri>', 'bind a source: file:path.jsonl or log:<dir>/<topic> (repeatable)', collect, [])
  .option('--sink <name=uri>', 'bind a sink; "dlq" takes dead letters (repeatable)', collect, [])
  .option('--from <position>', 'where sources start: earliest or latest', 'earliest')
  .option('--follow', 'keep running and process new appends live', false)
  .option('--batch-size <n>', 'records per source read', positiveInt)
  .option('--checkpoint-dir <dir>', 'save state and positions here and resume from them after a crash')
  .option('--checkpoint-interval <duration>', 'checkpoint this often, e.g. 10s (default 10s)')
  .option('--checkpoint-every <n>', 'also checkpoint every n events', positiveInt)
  .option('--no-progress', 'no progress bar')
  .action(runCommand);

program
  .command('replay')
  .description('re-run a topology over a range of its sources (bounded), with a progress bar')
  .argument('<topology>', 'topology file (.ts)')
  .option('--source <name=uri>', 'bind a source (repeatable)', collect, [])
  .option('--sink <name=uri>', 'bind a sink (repeatable)', collect, [])
  .option('--from <position>', 'start: an offset, an ISO date-time or t:<epoch ms> (default: the beginning)')
  .option('--to <position>', 'end, inclusive: an offset, an ISO date-time or t:<epoch ms> (default: the end)')
  .option('--batch-size <n>', 'records per source read', positiveInt)
  .option('--no-progress', 'no progress bar')
  .action((topology: string, options: { source: string[]; sink: string[]; from?: string; to?: string; batchSize?: number; progress: boolean }) =>
    runCommand(topology, { ...options, from: 'earliest', follow: false, range: { from: options.from, to: options.to } }),
  );

program
  .command('produce')
  .description('validate JSON lines from stdin against an Avro schema and append them to the embedded log')
  .argument('<log-uri>', 'log:<dir>/<topic>')
  .requiredOption('--schema <file.avsc>', 'Avro schema of the events')
  .requiredOption('--key <field>', 'field whose value keys (and partitions) each record')
  .option('--partitions <n>', 'partitions when the topic is created (default 1)', positiveInt)
  .option('--time <field>', "event-time field (default: the schema's timestamp field, else 'ts')")
  .action(produceCommand);

const log = program.command('log').description('inspect the embedded log');
log
  .command('info')
  .argument('<log-uri>', 'log:<dir>/<topic>')
  .description('partitions, offsets, segments and schema ids')
  .action(logInfoCommand);
log
  .command('cat')
  .argument('<log-uri>', 'log:<dir>/<topic>')
  .description('print records decoded as JSON lines')
  .option('--partition <p>', 'only this partition', nonNegativeInt)
  .option('--offset <n>', 'start at this offset', nonNegativeInt)
  .option('--limit <n>', 'at most this many records per partition', positiveInt)
  .action(logCatCommand);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof RtmlError) {
    process.stderr.write(`rtml: error ${err.code} (${ErrorCodes[err.code]}): ${err.message}\n`);
  } else {
    process.stderr.write(`rtml: unexpected error: ${errorMessage(err)}\n`);
    if (process.env.RTML_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
  }
  process.exitCode = process.exitCode || 1;
}
