import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RtmlError, errorMessage } from '../../engine/errors.ts';

/**
 * Model artifacts in a directory, content-addressed: `<dir>/<sha256>.onnx`.
 *
 * 1. The name is the hash of the bytes, so identical models are stored once whatever names and
 *    versions point at them, and a file is never overwritten with other content.
 * 2. Written to a temp name, fsynced, renamed, then the directory fsynced: a crash leaves either no
 *    file or the whole file, never a torn one under the final name.
 * 3. Reads check the hash: a file damaged on disk is refused, not served.
 */

export const DEFAULT_ARTIFACTS = 'data/models';

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class ArtifactStore {
  readonly dir: string;
  constructor(dir: string = DEFAULT_ARTIFACTS) {
    this.dir = resolve(dir);
  }

  path(hash: string): string {
    return join(this.dir, `${hash}.onnx`);
  }

  /** Stores `bytes` (no-op when an intact copy is there already) and returns its hash and path. */
  put(bytes: Uint8Array): { sha256: string; path: string } {
    const hash = sha256(bytes);
    const path = this.path(hash);
    if (this.intact(path, hash)) return { sha256: hash, path };
    try {
      mkdirSync(this.dir, { recursive: true });
      const temp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
      try {
        const fd = openSync(temp, 'w');
        try {
          writeSync(fd, bytes);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(temp, path);
      } finally {
        rmSync(temp, { force: true });
      }
      syncDir(this.dir);
    } catch (err) {
      throw new RtmlError('RTML_E_REGISTRY', `cannot write model artifact ${path}: ${errorMessage(err)}`, { cause: err });
    }
    return { sha256: hash, path };
  }

  /** The artifact's bytes, refused when missing or when they no longer hash to `hash`. */
  read(hash: string): Uint8Array {
    const path = this.path(hash);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new RtmlError('RTML_E_REGISTRY', `model artifact ${path} cannot be read: ${errorMessage(err)} (is --artifacts the directory the model was registered with?)`, { cause: err });
    }
    const actual = sha256(bytes);
    if (actual !== hash) throw new RtmlError('RTML_E_REGISTRY', `model artifact ${path} is damaged: its sha256 is ${actual}`);
    return bytes;
  }

  private intact(path: string, hash: string): boolean {
    try {
      return sha256(readFileSync(path)) === hash;
    } catch {
      return false;
    }
  }
}

/** Makes the rename durable: the directory entry is on disk, not only the file's data. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
