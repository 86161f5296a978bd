import type { ModelHandle, ModelProvider, ModelRouting, ScoringModel } from '../../engine/models.ts';
import { choose, type Routing } from './routing.ts';
import { openRegistry } from './open.ts';
import type { Registry } from './registry.ts';
import { SyncOnnxSession } from '../syncSession.ts';
import { loadOnnxModel } from '../onnxLoad.ts';

/** A loaded registry version: what it takes, by name. */
export interface RegistryModel extends ScoringModel {
  readonly name: string;
  readonly number: number;
  /** Feature names in column order: the ones the handle was opened with, else the version's registered ones. */
  readonly features: readonly string[];
}

export interface RegistryRouting extends ModelRouting {
  readonly routing: Routing;
  serving(entity: string): RegistryModel;
  readonly shadows: readonly RegistryModel[];
}

export interface RegistryModelHandle extends ModelHandle {
  current(): RegistryRouting;
  /** Any registered version, loaded on first use (explicit-version requests). */
  version(version: number): Promise<RegistryModel>;
}

export interface RegistryModelProvider extends ModelProvider {
  /** Without `features`, each version takes the features it was registered with. */
  open(name: string, features?: readonly string[]): Promise<RegistryModelHandle>;
  readonly registry: Registry;
  close(): Promise<void>;
}

/**
 * The model registry as a model provider, for runs and for `rtml serve`: loads the versions a
 * model's routing names (production or the A/B split, and shadows), follows routing changes
 * (LISTEN/NOTIFY, or polling on PGlite) and swaps in a new routing only once every version it names
 * is loaded — one assignment, between two micro-batches or two request batches.
 */
export function registryModels(uri: string, artifacts: string, log: (line: string) => void): RegistryModelProvider {
  let registry: Registry | undefined;
  const handles: ModelHandle[] = [];
  const provider: RegistryModelProvider = {
    get registry() {
      return (registry ??= openRegistry(uri, artifacts));
    },
    async open(name: string, features?: readonly string[]): Promise<RegistryModelHandle> {
      const reg = provider.registry;
      const loaded = new Map<number, Promise<RegistryModel>>();
      const load = (number: number): Promise<RegistryModel> => {
        let model = loaded.get(number);
        if (model === undefined) {
          model = (async () => {
            const version = await reg.get(name, number);
            const bytes = reg.readArtifact(version);
            const takes = features ?? version.features;
            loadOnnxModel(bytes, { features: takes, name: `${name} v${number}` });
            const session = new SyncOnnxSession(bytes, takes.length);
            return { name, number, version: `v${number}`, features: takes, featureCount: takes.length, score: (values, rows) => session.score(values, rows) };
          })();
          // A failed load (missing artifact, database down) is retried by the next request for it.
          model.catch(() => loaded.delete(number));
          loaded.set(number, model);
        }
        return model;
      };
      const build = async (routing: Routing): Promise<RegistryRouting> => {
        const numbers = new Set([...routing.ab.map((s) => s.version), ...(routing.production === null ? [] : [routing.production]), ...routing.shadow]);
        const models = new Map<number, RegistryModel>();
        for (const n of numbers) models.set(n, await load(n));
        choose(routing, ''); // refuses a model with nothing to serve
        return { routing, serving: (entity) => models.get(choose(routing, entity))!, shadows: routing.shadow.map((v) => models.get(v)!) };
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
      const handle: RegistryModelHandle = { current: () => current, version: load, close: () => watch.close() };
      handles.push(handle);
      return handle;
    },
    async close() {
      await Promise.allSettled(handles.map((h) => h.close()));
      await registry?.close();
    },
  };
  return provider;
}
