import fs from 'node:fs';
import { basename } from 'node:path';
import { RtmlError } from '../engine/errors.ts';

/**
 * The one-process-per-data-dir lock of PGlite: `<dir>.lock` beside the data dir (PGlite owns the
 * dir itself), holding the opener's pid and command line. PGlite is Postgres in WebAssembly inside
 * one process: a second process opening the same files works on its own copy of the database and
 * the two overwrite each other's changes (a `models promote` that "succeeds" and is lost). So the
 * second opener is refused, naming who holds the dir.
 *
 * 1. Taken exclusively: the content is written to a temp file and hard-linked to the lock name,
 *    which fails when the lock exists, so a lock is never seen half written.
 * 2. A lock whose pid is no longer alive (the holder crashed or was killed) is stale and taken over.
 * 3. Released on close and, for a process that exits without closing, on 'exit'.
 *
 * Limits (as the log's writer lock): liveness is `process.kill(pid, 0)`, so one host only, and a
 * recycled pid looks alive (remove the file by hand then).
 */

export interface LockHolder {
  readonly pid: number;
  readonly command: string;
}

const held = new Set<string>();
let exitHook = false;

export function lockFileOf(dir: string): string {
  return `${dir.replace(/[\\/]+$/, '')}.lock`;
}

/** Takes the lock of the data dir `dir` (absolute), or throws `refusal(holder)`. */
export function lockDataDir(dir: string, refusal: (holder: LockHolder, file: string) => RtmlError): () => void {
  const file = lockFileOf(dir);
  const content = `${process.pid}\n${commandLine()}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const temp = `${file}.${process.pid}.${Date.now().toString(36)}.tmp`;
    try {
      fs.writeFileSync(temp, content);
      fs.linkSync(temp, file);
      held.add(file);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', () => {
          for (const f of held) removeIfOurs(f);
        });
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held.delete(file);
        removeIfOurs(file);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RtmlError('RTML_E_STORE', `cannot take the PGlite lock ${file}: ${(err as Error).message}`, { cause: err });
      }
    } finally {
      fs.rmSync(temp, { force: true });
    }
    const holder = readHolder(file);
    if (holder === undefined) continue; // gone meanwhile
    if (holder.pid !== process.pid && isAlive(holder.pid)) throw refusal(holder, file);
    // Stale: its process is gone (or it is a leftover of this very pid). Take it over.
    fs.rmSync(file, { force: true });
  }
  throw new RtmlError('RTML_E_STORE', `cannot take the PGlite lock ${file}: other processes keep taking it`);
}

/** Who holds the lock file, or undefined when there is none. */
export function readHolder(file: string): LockHolder | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const [pid, command] = text.split('\n');
  const n = Number(pid);
  // Never half written (see above); unreadable content counts as a dead holder.
  return { pid: Number.isInteger(n) && n > 0 ? n : 0, command: command ?? '' };
}

function removeIfOurs(file: string): void {
  try {
    if (readHolder(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  } catch {
    // Best effort at exit.
  }
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `rtml run topology.ts …` for the CLI, else the script and its arguments; one line, shortened. */
function commandLine(): string {
  const script = process.argv[1] ?? '';
  const name = /rtml(\.m?js)?$|cli[\\/]main\.ts$/.test(script) ? 'rtml' : basename(script) || 'node';
  const line = [name, ...process.argv.slice(2)].join(' ').replace(/\s+/g, ' ');
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}
