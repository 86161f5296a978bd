import pino from 'pino';
import { RtmlError } from '../engine/errors.ts';
import { setLogSink, type LogLevel } from '../engine/log.ts';

/**
 * `rtml --log-format json` (or RTML_LOG_FORMAT=json): every line rtml reports becomes one JSON object
 * on stderr — `{"level":"info","time":"…","pid":…,"msg":"…"}` — written by pino, for log collectors
 * (Loki, CloudWatch, Stackdriver). `--log-level` (RTML_LOG_LEVEL) drops lines below it. The text
 * format (the default) writes every line as it is.
 */

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function configureLogging(format: string, level: string): void {
  if (format !== 'text' && format !== 'json') throw new RtmlError('RTML_E_USAGE', `--log-format ${JSON.stringify(format)}: use text or json`);
  if (!(LEVELS as readonly string[]).includes(level)) throw new RtmlError('RTML_E_USAGE', `--log-level ${JSON.stringify(level)}: use ${LEVELS.join(', ')}`);
  if (format === 'text') {
    const least = LEVELS.indexOf(level as LogLevel);
    if (least > 0) setLogSink({ write: (l, line) => void (LEVELS.indexOf(l) >= least && process.stderr.write(`${line}\n`)) });
    return;
  }
  const logger = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Synchronous: the last lines before an exit (the summary, an error) are not lost.
    pino.destination({ dest: 2, sync: true }),
  );
  setLogSink({ write: (l, line) => logger[l](line.replace(/^rtml: /, '')) });
}
