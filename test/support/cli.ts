import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Running the CLI as a child process and comparing what runs write, for the end-to-end tests. */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RTML = join(ROOT, 'bin', 'rtml.mjs');

export interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node <args>` from the project root (stdin: `input`); resolves with its exit code, stdout and stderr. */
export function node(args: string[], input?: string): Promise<Exited> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: process.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `rtml …` as a child process from the project root. */
export const rtml = (args: string[], input?: string): Promise<Exited> => node([RTML, ...args], input);

/** JSON with object keys sorted, so values decoded by different paths compare as text. */
export function canon(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

export const sortedCanon = (values: unknown[]): string[] => values.map(canon).sort();

export function jsonLines(file: string): unknown[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
}

/** The counts of a bounded run's summary line. */
export interface Summary {
  in: number;
  processed: number;
  late: number;
  deadLettered: number;
  resultsOut: number;
}

/** The counts of `rtml run`'s summary line for `topology` in its stderr. */
export function runSummary(topology: string, stderr: string): Summary {
  const m = new RegExp(`rtml: ${topology}: events in ([\\d,]+), processed ([\\d,]+), late ([\\d,]+), dead-lettered ([\\d,]+), results out ([\\d,]+),`).exec(stderr);
  assert.ok(m, `no run summary in:\n${stderr}`);
  const [inCount, processed, late, deadLettered, resultsOut] = m.slice(1).map((s) => Number(s.replaceAll(',', '')));
  return { in: inCount!, processed: processed!, late: late!, deadLettered: deadLettered!, resultsOut: resultsOut! };
}
