import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RtmlError } from '../../engine/errors.ts';
import type { ModelFileSite, ModelHandle, ModelProvider, ModelRouting, ScoringModel } from '../../engine/modelProvider.ts';
import { loadOnnxModel } from './onnxLoad.ts';
import { SyncOnnxSession } from './syncSession.ts';

/**
 * The model provider of runs: ONNX files (`score('fraud.onnx')`, looked up beside the topology
 * file, then in the working directory), and registered models (`score('registry:NAME')`) from
 * `registered` — the model registry, when the run has one. A file is checked against the feature
 * list when opened; its version is the first 12 hex digits of its sha256.
 */
export function onnxFileModels(registered?: ModelProvider): ModelProvider {
  return {
    open(name, features) {
      if (registered === undefined) throw new RtmlError('RTML_E_BINDING', `model registry:${name} is a registered model, but this run has no model registry (rtml run --registry URI)`);
      return registered.open(name, features);
    },
    ...(registered?.profiles === undefined ? {} : { profiles: (name: string) => registered.profiles!(name) }),
    async openFile(path: string, features: readonly string[], site: ModelFileSite): Promise<ModelHandle> {
      const found = [site.baseDir, process.cwd()].map((d) => resolve(d, path)).find((p) => existsSync(p));
      if (!found) throw new RtmlError('RTML_E_MODEL', `${site.what}: model file not found`);
      const bytes = readFileSync(found);
      loadOnnxModel(bytes, { features, name: found });
      const sha = createHash('sha256').update(bytes).digest('hex');
      const session = acquireFileSession(found, sha, bytes, features.length);
      const model: ScoringModel = { version: sha.slice(0, 12), featureCount: features.length, score: (v, rows) => session.score(v, rows) };
      const routing: ModelRouting = { serving: () => model, shadows: [] };
      let released = false;
      return {
        current: () => routing,
        close: async () => {
          if (released) return;
          released = true;
          releaseFileSession(found, sha);
        },
      };
    },
  };
}

/**
 * ONNX sessions of model files, shared by the score() operators that run the same file (same path
 * and sha256) at the same time in this process — loaded once, dropped when the last one ends.
 */
const fileSessions = new Map<string, { session: SyncOnnxSession; refs: number }>();

function acquireFileSession(path: string, sha: string, bytes: Uint8Array, featureCount: number): SyncOnnxSession {
  const key = `${path}\u0000${sha}`;
  let entry = fileSessions.get(key);
  if (entry === undefined) fileSessions.set(key, (entry = { session: new SyncOnnxSession(bytes, featureCount), refs: 0 }));
  entry.refs++;
  return entry.session;
}

function releaseFileSession(path: string, sha: string): void {
  const key = `${path}\u0000${sha}`;
  const entry = fileSessions.get(key);
  if (entry !== undefined && --entry.refs <= 0) fileSessions.delete(key);
}

/** How many model-file sessions are loaded now (for tests). */
export function loadedFileModels(): number {
  return fileSessions.size;
}
