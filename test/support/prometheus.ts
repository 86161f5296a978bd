import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { stringify } from 'yaml';
import { freePort, tempDir } from './features.ts';

/**
 * A real Prometheus server (Debian's `prometheus`) for the monitoring tests: scrapes the given
 * targets every second, evaluates the given rule files, and answers PromQL over its HTTP API.
 * Stopped and its data removed after the test.
 */

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Prometheus {
  readonly url: string;
  /** An instant query (/api/v1/query): the vector's samples; throws on a query error. */
  query(expr: string): Promise<PromSample[]>;
  /** /api/v1/label/<label>/values?match[]=<selector>. */
  labelValues(label: string, selector: string): Promise<string[]>;
  stderr(): string;
  /** SIGTERM; resolves once it exited (its keep-alive scrape connections closed). */
  stop(): Promise<void>;
}

export async function startPrometheus(t: TestContext, options: { jobs: Record<string, string[]>; ruleFiles?: string[] }): Promise<Prometheus> {
  const files = tempDir('prometheus');
  const config = join(files.dir, 'prometheus.yml');
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
    }),
  );
  const port = await freePort();
  const child = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(files.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`prometheus cannot be run (apt-get install prometheus): ${err.message}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  t.after(async () => {
    await stop();
    files.remove();
  });
  await spawned;
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 20_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > until) throw new Error(`prometheus did not start; stderr:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const api = async <T>(path: string): Promise<T> => {
    const body = (await (await fetch(`${url}${path}`)).json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
    return body.data;
  };
  return {
    url,
    query: async (expr) => (await api<{ resultType: string; result: PromSample[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    labelValues: (label, selector) => api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(selector)}`),
    stderr: () => stderr,
    stop,
  };
}
