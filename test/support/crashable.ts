import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `rtml` as a child process a crash test can kill with SIGKILL, and watch for text on stderr. */
export interface CrashableRun {
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  kill: () => void;
  /** Resolves true once stderr has `text`, false if the child exits first. */
  waitFor: (text: string) => Promise<boolean>;
}

const RTML = fileURLToPath(new URL('../../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Starts `rtml <argv>` (with `nodeFlags` before the script) in the repository root. */
export function startRtml(argv: string[], env: Record<string, string> = {}, nodeFlags: string[] = []): CrashableRun {
  const child = spawn(process.execPath, [...nodeFlags, RTML, ...argv], { cwd: ROOT, env: { ...process.env, ...env } });
  let stderr = '';
  const waiters: { text: string; resolve: (found: boolean) => void }[] = [];
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
    for (const w of waiters.splice(0)) {
      if (stderr.includes(w.text)) w.resolve(true);
      else waiters.push(w);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  void exited.then(() => waiters.splice(0).forEach((w) => w.resolve(false)));
  return {
    exited,
    stderr: () => stderr,
    kill: () => child.kill('SIGKILL'),
    waitFor: (text) => (stderr.includes(text) ? Promise.resolve(true) : new Promise((resolve) => waiters.push({ text, resolve }))),
  };
}

/** Resolves true once `file` is written at or after `since` (false if the child exits first). */
export async function writtenAfter(file: string, since: number, child: CrashableRun): Promise<boolean> {
  let exited = false;
  void child.exited.then(() => (exited = true));
  while (!exited) {
    if (existsSync(file) && statSync(file).mtimeMs >= since) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}
