import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './procs.ts';

export interface ModelFiles {
  dir: string;
  onnx: string;
  pickle: string;
  /** Held-out rows with scikit-learn's probabilities (check-model.ts). */
  check: string;
}

const TRAIN = fileURLToPath(new URL('train_model.py', import.meta.url));

/**
 * The benchmark model (train_model.py). Training takes ~30 s, so the files are kept in the temp
 * folder under the training script's hash and reused until the script changes.
 */
export async function benchModel(python: string): Promise<ModelFiles> {
  const hash = createHash('sha256').update(readFileSync(TRAIN)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `rtml-bench-serve-model-${hash}`);
  const files = { dir, onnx: join(dir, 'model.onnx'), pickle: join(dir, 'model.pkl'), check: join(dir, 'check.json') };
  if ([files.onnx, files.pickle, files.check].every((f) => existsSync(f))) return files;
  const fresh = mkdtempSync(join(tmpdir(), 'rtml-bench-serve-train-'));
  try {
    await run(python, [TRAIN, fresh], 180_000);
    renameSync(fresh, dir); // all three files appear at once, or none
  } catch (err) {
    rmSync(fresh, { recursive: true, force: true });
    throw err;
  }
  return files;
}
