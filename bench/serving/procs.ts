import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { ROOT } from '../support.ts';

/**
 * Child processes of the serving benchmark. Each runs in its own process group (servers fork:
 * uvicorn's workers, whatever rtml starts), so stopping or measuring a server covers all of its
 * processes, and whatever is still running when the harness exits — normally, on an error or on
 * Ctrl-C — is killed.
 */

const groups = new Set<number>();

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

const interruptCleanups: (() => Promise<unknown>)[] = [];
/** Runs `cleanup` (best effort) when the harness is interrupted by a signal; `finally` blocks cover the other exits. */
export function onInterrupt(cleanup: () => Promise<unknown>): void {
  interruptCleanups.push(cleanup);
}

process.on('exit', () => {
  for (const pgid of groups) killGroup(pgid, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const pgid of groups) killGroup(pgid, 'SIGKILL');
    groups.clear();
    // Exits through the cleanups the harness registered (onInterrupt), then with the signal's status.
    void Promise.allSettled(interruptCleanups.map((c) => c())).then(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
  });
}
export interface Proc {
  readonly pid: number;
  /** Resolves with the exit code (or the signal's name) when the group leader exits. */
  readonly exited: Promise<number | string>;
  /** Everything written on stdout so far. */
  stdout(): string;
  /** The last 4 kB written on stderr. */
  stderr(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`, resolved once the leader is gone. */
  stop(graceMs?: number): Promise<void>;
}

export function start(command: string, args: readonly string[], env: Record<string, string> = {}): Proc {
  const child: ChildProcess = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${command}`);
  groups.add(pid);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-4096)));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let stopping: Promise<void> | undefined;
  return {
    pid,
    exited,
    stdout: () => out,
    stderr: () => err,
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        killGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
        killGroup(pid, 'SIGKILL'); // members that outlive the leader
        groups.delete(pid);
      })();
      return stopping;
    },
  };
}

/** Runs a command to its end (killed after `timeoutMs`); rejects unless it exits 0. Returns its stdout. */
export async function run(command: string, args: readonly string[], timeoutMs: number, env: Record<string, string> = {}): Promise<string> {
  const proc = start(command, args, env);
  const timer = setTimeout(() => void proc.stop(), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  await proc.stop();
  if (code !== 0) throw new Error(`${command} ${args.slice(0, 3).join(' ')}… exited with ${code}: ${lastLine(proc.stderr()) || lastLine(proc.stdout())}`);
  return proc.stdout();
}

export const lastLine = (text: string) => text.trim().split('\n').pop()?.trim() ?? '';

/** The live processes of a process group. */
function members(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (statFields(Number(entry))[2] === String(pgid)) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** /proc/<pid>/stat from the state field on: the command name in parentheses may hold spaces. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Resident memory of a process group: VmRSS now and the sum of each process's VmHWM (peak), in MB. */
export function groupMemory(pgid: number): { rssMb: number; peakMb: number; processes: number } {
  let rss = 0;
  let peak = 0;
  const pids = members(pgid);
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peak += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // exited while we looked
    }
  }
  return { rssMb: rss / 1024, peakMb: peak / 1024, processes: pids.length };
}

/** CPU seconds (user + system) used so far by the live processes of a group; stat counts in 1/100 s (USER_HZ). */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const pid of members(pgid)) {
    try {
      const f = statFields(pid);
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // exited while we looked
    }
  }
  return ticks / 100;
}

/** CPU seconds (user + system) of this process's children that have exited and been waited for (cutime, cstime). */
export function reapedChildrenCpuSeconds(): number {
  const f = statFields(process.pid);
  return (Number(f[13]) + Number(f[14])) / 100;
}
