/**
 * Where rtml's processes report what they do: one line per event, to stderr. By default the
 * lines are written as they are (`rtml: …`); `rtml --log-format json` (cli/logging.ts) swaps in a
 * structured JSON logger with levels, for log collectors. Library code reports through `logLine`,
 * so the choice is made once, by the command.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogSink {
  write(level: LogLevel, line: string): void;
}

const textSink: LogSink = { write: (_level, line) => void process.stderr.write(`${line}\n`) };
let sink: LogSink = textSink;

/** Reports a line (a warning or an error, when `level` says so). */
export function logLine(line: string, level: LogLevel = 'info'): void {
  sink.write(level, line);
}

/** Makes `next` the process's log sink (the CLI does, once, before its command runs). */
export function setLogSink(next: LogSink): void {
  sink = next;
}
