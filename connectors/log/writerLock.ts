import fs from 'node:fs';
import { RtmlError } from '../../engine/errors.ts';
import { lockPath } from './layout.ts';

/**
 * The one-writer-per-topic lock: `<topic>/.writer.lock`, created exclusively ('wx') and holding the
 * writer's pid. A lock whose pid is no longer alive (the writer crashed) is stale and taken over.
 *
 * Limits: liveness is `process.kill(pid, 0)`, so it only works on one host (not across machines sharing
 * a file system), and a recycled pid looks alive (remove the file by hand then). Two processes taking
 * over the same stale lock at the very same moment can race; starting writers one at a time avoids it.
 */
export class WriterLock {
  private released = false;

  private constructor(readonly path: string) {}

  static acquire(topic: string): WriterLock {
    const file = lockPath(topic);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx');
        try {
          fs.writeSync(fd, `${process.pid}\n`);
        } finally {
          fs.closeSync(fd);
        }
        return new WriterLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new RtmlError('RTML_E_LOG', `cannot create the writer lock ${file}: ${(err as Error).message}`, { cause: err });
        }
      }
      const holder = readHolder(file);
      if (holder === 'gone') continue;
      if (holder === 'young') {
        throw new RtmlError('RTML_E_LOG_LOCKED', `${topic} is being opened for writing by another process (${file} was just created); retry, or remove it if no writer runs`);
      }
      if (holder !== 'stale' && isAlive(holder)) {
        throw new RtmlError('RTML_E_LOG_LOCKED', `${topic} is being written by process ${holder} (lock ${file}); stop that writer first, or remove the lock if it is not an rtml writer`);
      }
      try {
        fs.unlinkSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    throw new RtmlError('RTML_E_LOG_LOCKED', `cannot take the writer lock ${file}: other writers keep taking it`);
  }

  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (readHolder(this.path) === process.pid) fs.rmSync(this.path, { force: true });
  }
}

/**
 * The pid in the lock file; 'gone' when the file disappeared meanwhile; 'stale' when it holds no pid
 * and is older than a second (a writer died between creating and filling it); 'young' when it holds no
 * pid yet but was just created.
 */
function readHolder(file: string): number | 'gone' | 'stale' | 'young' {
  let text: string;
  let mtimeMs: number;
  try {
    text = fs.readFileSync(file, 'utf8');
    mtimeMs = fs.statSync(file).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  const pid = Number(text.trim());
  if (Number.isInteger(pid) && pid > 0) return pid;
  return Date.now() - mtimeMs > 1000 ? 'stale' : 'young';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
