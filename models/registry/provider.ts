import { RtmlError, errorMessage } from '../../engine/errors.ts';
import type { ModelHandle, ModelProvider, ModelRouting, ProfileSet, ScoringModel } from '../../engine/modelProvider.ts';
import type { ReferenceProfile } from '../../engine/monitoring/profile.ts';
import { choose, type Routing } from './routing.ts';
import { openRegistry } from './open.ts';
import type { Registry } from './registry.ts';
import type { ModelVersion } from './store.ts';
import type { RoutingWatch } from './watch.ts';
import { SyncOnnxSession, loadOnnxModel } from '../onnx/index.ts';

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
  /** Versions that failed to load (missing or corrupt artifact, database down), with how often: rtml_model_load_failures_total. */
  loadFailures(): readonly LoadFailure[];
  close(): Promise<void>;
}

export interface LoadFailure {
  readonly model: string;
  readonly version: number;
  readonly count: number;
}

/** Provider hooks, for instrumentation and tests. */
export interface RegistryModelsHooks {
  /** Called each time a version's artifact is read and an ONNX session created for it. */
  onLoad?(name: string, version: number): void;
}

/** A version loaded once per provider, shared by every handle that routes to it. */
interface LoadedVersion {
  readonly version: ModelVersion;
  readonly bytes: Uint8Array;
  readonly session: SyncOnnxSession;
}

/** One routing watch per model name, shared by the provider's handles of that name. */
interface SharedWatch {
  /** The routing as last delivered (the watch's initial one, then each change). */
  latest: Routing;
  readonly subscribers: Set<(routing: Routing) => Promise<void>>;
  readonly watch: RoutingWatch;
}

/**
 * The model registry as a model provider, for runs and for `rtml serve`: loads the versions a
 * model's routing names (production or the A/B split, and shadows), follows routing changes
 * (LISTEN/NOTIFY, or polling on PGlite) and swaps in a new routing only once every version it names
 * is loaded — one assignment, between two micro-batches or two request batches.
 *
 * Loaded versions are cached per (name, version) and one routing watch serves every handle of a
 * name, so two score() operators (or scale-out tasks in one process) on the same model load each
 * version once; both are reference-counted and released when the last handle using them closes.
 */
export function registryModels(uri: string, artifacts: string, log: (line: string) => void, hooks: RegistryModelsHooks = {}): RegistryModelProvider {
  let registry: Registry | undefined;
  const handles = new Set<ModelHandle>();
  const versions = new Map<string, { loading: Promise<LoadedVersion>; refs: number }>();
  const watches = new Map<string, { shared: Promise<SharedWatch>; refs: number }>();
  const versionKey = (name: string, number: number) => `${name}\u0000${number}`;
  const failures = new Map<string, { model: string; version: number; count: number }>();

  /** The version, loaded once for the provider; each successful acquire is balanced by a release. */
  const acquire = async (name: string, number: number): Promise<LoadedVersion> => {
    const key = versionKey(name, number);
    let entry = versions.get(key);
    if (entry === undefined) {
      const reg = provider.registry;
      const loading = (async () => {
        const version = await reg.get(name, number);
        const bytes = reg.readArtifact(version);
        loadOnnxModel(bytes, { features: version.features, name: `${name} v${number}` });
        const session = new SyncOnnxSession(bytes, version.featureCount);
        hooks.onLoad?.(name, number);
        return { version, bytes, session };
      })();
      entry = { loading, refs: 0 };
      versions.set(key, entry);
      // A failed load (missing artifact, database down) is retried by the next request for it.
      const failed = entry;
      loading.catch(() => {
        if (versions.get(key) === failed) versions.delete(key);
        const counted = failures.get(key);
        if (counted === undefined) failures.set(key, { model: name, version: number, count: 1 });
        else counted.count++;
      });
    }
    const loaded = await entry.loading;
    entry.refs++;
    return loaded;
  };
  const release = (name: string, number: number): void => {
    const key = versionKey(name, number);
    const entry = versions.get(key);
    if (entry !== undefined && --entry.refs <= 0) versions.delete(key);
  };

  /** Joins the name's shared watch (started by the first handle); returns it and how to leave. */
  const follow = async (name: string, onChange: (routing: Routing) => Promise<void>): Promise<{ latest: Routing; leave: () => Promise<void> }> => {
    let entry = watches.get(name);
    if (entry === undefined) {
      const reg = provider.registry;
      const subscribers = new Set<(routing: Routing) => Promise<void>>();
      const shared: Promise<SharedWatch> = (async () => {
        const state = {} as SharedWatch;
        const watch = await reg.watch(name, async (routing) => {
          state.latest = routing;
          const results = await Promise.allSettled([...subscribers].map((s) => s(routing)));
          const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failed !== undefined) log(`rtml: model ${name}: keeping the current routing, the new one cannot be loaded: ${(failed.reason as Error).message}`);
          else log(`rtml: model ${name}: now serving revision ${routing.revision} (production ${routing.production === null ? '-' : `v${routing.production}`}${routing.ab.length > 0 ? `, A/B ${routing.ab.map((s) => `v${s.version}:${s.percent}%`).join(' ')}` : ''})`);
        });
        return Object.assign(state, { latest: watch.initial, subscribers, watch });
      })();
      entry = { shared, refs: 0 };
      watches.set(name, entry);
      const failed = entry;
      shared.catch(() => {
        if (watches.get(name) === failed) watches.delete(name);
      });
    }
    const joined = entry;
    const state = await joined.shared;
    joined.refs++;
    state.subscribers.add(onChange);
    let left = false;
    return {
      latest: state.latest,
      leave: async () => {
        if (left) return;
        left = true;
        state.subscribers.delete(onChange);
        if (--joined.refs > 0) return;
        if (watches.get(name) === joined) watches.delete(name);
        await state.watch.close();
      },
    };
  };

  const provider: RegistryModelProvider = {
    get registry() {
      return (registry ??= openRegistry(uri, artifacts));
    },
    loadFailures: () => [...failures.values()].map((f) => ({ ...f })),
    async open(name: string, features?: readonly string[]): Promise<RegistryModelHandle> {
      /** The versions this handle holds (released on close), as it takes them. */
      const held = new Map<number, Promise<RegistryModel>>();
      let closed = false;
      const load = (number: number): Promise<RegistryModel> => {
        let model = held.get(number);
        if (model === undefined) {
          model = (async () => {
            const { version, bytes, session } = await acquire(name, number);
            try {
              const takes = features ?? version.features;
              // The feature list this handle was opened with, checked against the version.
              if (features !== undefined) loadOnnxModel(bytes, { features: takes, name: `${name} v${number}` });
              return { name, number, version: `v${number}`, features: takes, featureCount: takes.length, score: (values: Float32Array, rows: number) => session.score(values, rows) };
            } catch (err) {
              release(name, number);
              throw err;
            }
          })();
          model.catch(() => held.delete(number));
          held.set(number, model);
        }
        return model;
      };
      const build = async (routing: Routing): Promise<RegistryRouting> => {
        const numbers = new Set([...routing.ab.map((s) => s.version), ...(routing.production === null ? [] : [routing.production]), ...routing.shadow]);
        const models = new Map<number, RegistryModel>();
        for (const n of numbers) models.set(n, await load(n));
        choose(routing, ''); // refuses a model with nothing to serve
        return { routing, split: routing.ab.length > 0, serving: (entity) => models.get(choose(routing, entity))!, shadows: routing.shadow.map((v) => models.get(v)!) };
      };
      let current: RegistryRouting | undefined;
      let pending: Routing | undefined;
      /** Routing changes heard while the first routing is built wait for it, then apply if newer. */
      const apply = async (routing: Routing): Promise<void> => {
        if (current === undefined) {
          pending = routing;
          return;
        }
        if (routing.revision <= current.routing.revision) return;
        const next = await build(routing);
        if (next.routing.revision > current.routing.revision) current = next;
      };
      const watch = await follow(name, apply);
      let leaving = false;
      const releaseAll = async () => {
        if (leaving) return;
        leaving = true;
        await watch.leave();
        const numbers = [...held.keys()];
        const settled = await Promise.allSettled([...held.values()]);
        settled.forEach((r, i) => r.status === 'fulfilled' && release(name, numbers[i]!));
        held.clear();
      };
      try {
        current = await build(watch.latest);
        if (pending !== undefined && pending.revision > current.routing.revision) current = await build(pending);
      } catch (err) {
        await releaseAll();
        throw err;
      }
      const handle: RegistryModelHandle = {
        current: () => current!,
        version: load,
        close: async () => {
          if (closed) return;
          closed = true;
          handles.delete(handle);
          await releaseAll();
        },
      };
      handles.add(handle);
      return handle;
    },
    async profiles(name: string): Promise<ProfileSet> {
      const byVersion = new Map<string, ReferenceProfile | null>();
      let features: readonly string[] = [];
      const load = async (): Promise<void> => {
        const listed = await provider.registry.list(name);
        if (listed.length > 0) features = listed.at(-1)!.features;
        for (const v of listed) if (!byVersion.has(`v${v.version}`)) byVersion.set(`v${v.version}`, await provider.registry.profile(name, v.version));
      };
      await load();
      if (byVersion.size === 0) throw new RtmlError('RTML_E_MODEL', `no model '${name}' in the registry ${provider.registry.description}`);
      let refreshing: Promise<void> | undefined;
      const refresh = (): Promise<void> =>
        (refreshing ??= load()
          .catch((err: unknown) => log(`rtml: model ${name}: reference profiles not reloaded: ${errorMessage(err)}`))
          .finally(() => (refreshing = undefined)));
      // A version is registered before a routing change names it: each change reloads what is new.
      const watch = await follow(name, refresh);
      return {
        get features() {
          return features;
        },
        get(version) {
          const profile = byVersion.get(version);
          if (profile === undefined) void refresh();
          return profile;
        },
        close: () => watch.leave(),
      };
    },
    async close() {
      await Promise.allSettled([...handles].map((h) => h.close()));
      await registry?.close();
    },
  };
  return provider;
}
