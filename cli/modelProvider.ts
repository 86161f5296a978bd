import type { ModelHandle, ModelProvider, ModelRouting, ScoringModel } from '../engine/models.ts';
import { choose, type Routing } from '../models/registry/routing.ts';
import { openRegistry, type Registry } from '../models/registry/index.ts';
import { SyncOnnxSession } from '../models/syncSession.ts';
import { loadOnnxModel } from '../models/onnxLoad.ts';

/**
 * The model registry as a run's model provider: loads the versions a model's routing names
 * (production or the A/B split, and shadows), follows routing changes (LISTEN/NOTIFY, or polling on
 * PGlite) and swaps in a new routing only once every version it names is loaded — one assignment,
 * between two micro-batches.
 */
export function registryModels(uri: string, artifacts: string, log: (line: string) => void): ModelProvider & { close(): Promise<void> } {
  let registry: Registry | undefined;
  const handles: ModelHandle[] = [];
  return {
    async open(name: string, features: readonly string[]): Promise<ModelHandle> {
      registry ??= openRegistry(uri, artifacts);
      const reg = registry;
      const loaded = new Map<number, ScoringModel>();
      const load = async (version: number): Promise<ScoringModel> => {
        const cached = loaded.get(version);
        if (cached) return cached;
        const bytes = reg.readArtifact(await reg.get(name, version));
        loadOnnxModel(bytes, { features, name: `${name} v${version}` });
        const session = new SyncOnnxSession(bytes, features.length);
        const model: ScoringModel = { version: `v${version}`, featureCount: features.length, score: (values, rows) => session.score(values, rows) };
        loaded.set(version, model);
        return model;
      };
      const build = async (routing: Routing): Promise<ModelRouting> => {
        const versions = new Set([...routing.ab.map((s) => s.version), ...(routing.production === null ? [] : [routing.production]), ...routing.shadow]);
        for (const v of versions) await load(v);
        choose(routing, ''); // refuses a model with nothing to serve, at start
        return { serving: (entity) => loaded.get(choose(routing, entity))!, shadows: routing.shadow.map((v) => loaded.get(v)!) };
      };
      let current = await build(await reg.routing(name));
      const watch = await reg.watch(name, async (routing) => {
        try {
          current = await build(routing);
          log(`rtml: model ${name}: now serving revision ${routing.revision} (production ${routing.production === null ? '-' : `v${routing.production}`}${routing.ab.length > 0 ? `, A/B ${routing.ab.map((s) => `v${s.version}:${s.percent}%`).join(' ')}` : ''})`);
        } catch (err) {
          log(`rtml: model ${name}: keeping the current routing, the new one cannot be loaded: ${(err as Error).message}`);
        }
      });
      const handle: ModelHandle = { current: () => current, close: () => watch.close() };
      handles.push(handle);
      return handle;
    },
    async close() {
      await Promise.allSettled(handles.map((h) => h.close()));
      await registry?.close();
    },
  };
}
