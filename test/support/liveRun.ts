import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { EventLog } from '../../connectors/log/eventLog.ts';
import { ROOT } from './cli.ts';

/**
 * A live `rtml … --follow --metrics-port 0` child process and its Prometheus metrics, scraped while
 * it runs (the end-to-end metrics tests).
 */

const RTML = join(ROOT, 'bin', 'rtml.mjs');

export interface Live {
  url: string;
  stderr(): string;
  exited: Promise<number | null>;
  /** SIGTERM (when still running); resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `rtml <args>` (which must ask for `--metrics-port 0`), stopped after the test; waits for the metrics address it prints. */
export async function startLive(t: TestContext, args: string[]): Promise<Live> {
  const child = spawn(process.execPath, [RTML, ...args], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    return exited;
  };
  t.after(async () => void (await stop()));
  const until = Date.now() + 30_000;
  let m: RegExpExecArray | null;
  while ((m = /rtml: metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(stderr)) === null) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`no metrics address; stderr:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { url: m[1]!, stderr: () => stderr, exited, stop };
}

/** GET /metrics: the exposition text (Prometheus text format 0.0.4). */
export async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one series, e.g. `rtml_events_in_total{topology="metered"}`; undefined when absent. */
export function seriesValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Scrapes until `ok` holds (or fails with the last scrape's rtml_ lines and the run's stderr). */
export async function scrapeUntil(live: Live, what: string, ok: (text: string) => boolean, ms = 20_000): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const text = await scrape(live.url);
    if (ok(text)) return text;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last scrape:\n${text.split('\n').filter((l) => l.startsWith('rtml_')).join('\n')}\nstderr:\n${live.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Appends JSON lines to an embedded log topic (created with `partitions` if new). */
export function appendLines(topic: string, lines: readonly string[], partitions = 1): void {
  const log = EventLog.open(topic, { create: { partitions } });
  try {
    for (const line of lines) log.append(null, 0, 0, Buffer.from(line));
  } finally {
    log.close();
  }
}
