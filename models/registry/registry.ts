import { hostname, userInfo } from 'node:os';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import { parseProfile, type ReferenceProfile } from '../../engine/monitoring/profile.ts';
import { unreachableReason, type SqlClient, type SqlQuery } from '../../storage/index.ts';
import { ArtifactStore, sha256 } from './artifacts.ts';
import { inspectModel } from './inspect.ts';
import type { Listener } from './listen.ts';
import type { Routing, Split } from './routing.ts';
import { lockName, schemaOnce } from './schema.ts';
import {
  applyChange,
  insertEvent,
  insertVersion,
  selectBySha,
  selectProfile,
  selectEvents,
  selectLastEvent,
  selectRevision,
  selectRouting,
  selectVersion,
  selectVersions,
  versionNumbers,
  type ModelVersion,
  type RoutingEvent,
} from './store.ts';
import { promote, rollback, setAb, setShadow, type Change, type Stage } from './transitions.ts';
import { startWatch, type RoutingWatch, type WatchOptions } from './watch.ts';

/**
 * The model registry: immutable, numbered versions of ONNX models per name (metadata in Postgres
 * or PGlite, artifacts content-addressed on disk) and each name's routing — production, staging,
 * A/B split, shadows — with rollback and change notification.
 *
 * Every change to a name runs in one transaction holding that name's advisory lock, so concurrent
 * registrations get consecutive versions and routing changes apply one after the other.
 *
 * ```ts
 * const registry = openRegistry('postgres://postgres@127.0.0.1:5432/rtml');
 * const { version } = await registry.register('fraud', 'model.onnx', { stage: 'staging' });
 * await registry.promote('fraud', version.version, 'production');
 * await registry.ab('fraud', [{ version: 1, percent: 90 }, { version: 2, percent: 10 }]);
 * const watch = await registry.watch('fraud', (routing) => swapModels(routing));
 * const v = choose(watch.initial, 'card-42');
 * ```
 */

export interface RegistryOptions {
  readonly sql: SqlClient;
  /** Artifact directory (default `data/models`). */
  readonly artifacts?: string;
  /** LISTEN/NOTIFY for watch(); without one, watchers poll. */
  readonly listener?: Listener;
  /** Whether close() closes `sql` too (true when the registry opened it). */
  readonly ownsSql?: boolean;
  /** Who this registry's changes are recorded as in the audit history (default: RTML_ACTOR, else user@host). */
  readonly actor?: string;
}

export interface RegisterOptions {
  /** Also promote the version (new or existing) to this stage. */
  readonly stage?: Stage;
  /** The feature names the model takes, in column order: checked against the model. */
  readonly features?: readonly string[];
  /** Why the feature list differs from the previous version's: without it, a different list is refused. */
  readonly featureChange?: string;
}

export interface Registered {
  readonly version: ModelVersion;
  /** False when these bytes were already registered under the name (the existing version is returned). */
  readonly created: boolean;
  readonly routing: Routing;
}

export interface RoutingUpdate {
  readonly previous: Routing;
  readonly routing: Routing;
  /** False when the request changed nothing (e.g. promoting the production version again). */
  readonly changed: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export class Registry {
  readonly artifacts: ArtifactStore;
  readonly description: string;
  private readonly sql: SqlClient;
  private readonly listener: Listener | undefined;
  private readonly ownsSql: boolean;
  private readonly ready: () => Promise<void>;
  private readonly watches = new Set<RoutingWatch>();
  private readonly actor: string;

  constructor(options: RegistryOptions) {
    this.sql = options.sql;
    this.description = options.sql.description;
    this.artifacts = new ArtifactStore(options.artifacts);
    this.listener = options.listener;
    this.ownsSql = options.ownsSql ?? false;
    this.actor = options.actor ?? defaultActor();
    this.ready = schemaOnce(options.sql);
  }

  /**
   * Validates `file` (see inspect.ts), stores its bytes and records a new version — or returns the
   * existing one when the name already has these exact bytes.
   */
  async register(name: string, file: string, options: RegisterOptions = {}): Promise<Registered> {
    checkName(name);
    const model = await inspectModel(file, options.features);
    const hash = sha256(model.bytes);
    return this.inTransaction(async (tx) => {
      await lockName(tx, name);
      let version = await selectBySha(tx, name, hash);
      const created = version === undefined;
      if (version !== undefined) {
        if (!same(version.features, model.features)) {
          throw refuse(`${file} is already registered as '${name}' v${version.version} with features [${version.features.join(', ')}], not [${model.features.join(', ')}]`);
        }
        this.artifacts.put(model.bytes); // restores the file if it went missing
      } else {
        const latest = (await selectVersions(tx, name)).at(-1);
        const changed = latest !== undefined && !same(latest.features, model.features);
        if (changed && !options.featureChange?.trim()) {
          throw refuse(
            `${file} takes features [${model.features.join(', ')}] but '${name}' v${latest.version} takes [${latest.features.join(', ')}]; ` +
              'versions of a name keep one feature list: register it under another name, or give the reason for the change (--feature-change "<why>")',
          );
        }
        // Validated: the artifact is written now, before the version is committed (a committed
        // version never points at a missing file; a refused one leaves no file behind). Only a
        // failed commit after this can leave an unreferenced artifact, which a retry reuses.
        const artifact = this.artifacts.put(model.bytes);
        version = await insertVersion(tx, {
          name,
          version: (latest?.version ?? 0) + 1,
          sha256: artifact.sha256,
          features: model.features,
          featureCount: model.signature.input.shape[1],
          signature: model.signature,
          metrics: model.metrics,
          artifact: artifact.path,
          sizeBytes: model.bytes.length,
          featureChange: changed ? options.featureChange!.trim() : null,
          profile: model.profile,
        });
      }
      let routing = await selectRouting(tx, name);
      if (created) await insertEvent(tx, name, routing.revision, 'register', { version: version.version, sha256: version.sha256, ...(version.featureChange === null ? {} : { featureChange: version.featureChange }) }, this.actor);
      const staged = options.stage === undefined ? null : promote(routing, version.version, options.stage, await versionNumbers(tx, name));
      if (staged !== null) routing = await applyChange(tx, staged, this.actor);
      return { version, created, routing };
    });
  }

  /** Every version of `name` (or of every name), by name then version. */
  list(name?: string): Promise<ModelVersion[]> {
    return this.reading((q) => selectVersions(q, name));
  }

  /** The reference profile of `name` v`version` (null when its model file recorded none). */
  async profile(name: string, version: number): Promise<ReferenceProfile | null> {
    const stored = await this.reading((q) => selectProfile(q, name, version));
    if (stored === undefined) throw refuse(`'${name}' has no version ${version}`);
    return stored === null ? null : parseProfile(stored, `'${name}' v${version}`);
  }

  async get(name: string, version: number): Promise<ModelVersion> {
    const found = await this.reading((q) => selectVersion(q, name, version));
    if (found !== undefined) return found;
    const known = await this.reading((q) => versionNumbers(q, name));
    throw refuse(`model '${name}' has no version v${version} (${known.length === 0 ? 'none registered' : `registered: ${known.map((v) => `v${v}`).join(', ')}`})`);
  }

  /** The version's ONNX bytes from the artifact directory, checked against its sha256. */
  readArtifact(version: ModelVersion): Uint8Array {
    return this.artifacts.read(version.sha256);
  }

  routing(name: string): Promise<Routing> {
    return this.reading((q) => selectRouting(q, name));
  }

  /** The audit history of `name`, oldest first: every version registered, every routing change and every decision audit() recorded, each with its actor. */
  history(name: string): Promise<RoutingEvent[]> {
    return this.reading((q) => selectEvents(q, name));
  }

  /**
   * Records a decision about `name` in its history without changing the routing (no new revision,
   * no notification): the event carries the routing's current revision. Retraining records each of
   * its steps this way.
   */
  audit(name: string, action: string, detail: Readonly<Record<string, unknown>>): Promise<RoutingEvent> {
    checkName(name);
    return this.inTransaction(async (tx) => {
      await lockName(tx, name);
      return insertEvent(tx, name, await selectRevision(tx, name), action, detail, this.actor);
    });
  }

  /** The latest event of `name` with this action (what happened last of a kind, without reading the whole history). */
  async lastEvent(name: string, action: string): Promise<RoutingEvent | null> {
    return (await this.reading((q) => selectLastEvent(q, name, action))) ?? null;
  }

  /** Production: serves (unless an A/B split runs); the previous production stays available to rollback. Staging: added to the staging versions. */
  promote(name: string, version: number, stage: Stage): Promise<RoutingUpdate> {
    if (stage !== 'production' && stage !== 'staging') throw new RtmlError('RTML_E_USAGE', `stage ${JSON.stringify(stage)}: expected production or staging`);
    return this.change(name, (routing, versions) => promote(routing, version, stage, versions));
  }

  /** Production goes back to the previous production version; refused when there is none. */
  rollback(name: string): Promise<RoutingUpdate> {
    return this.change(name, (routing) => rollback(routing));
  }

  /** Splits traffic between versions by entity (whole percentages summing to 100); `[]` ends the split. */
  ab(name: string, splits: readonly Split[]): Promise<RoutingUpdate> {
    return this.change(name, (routing, versions) => setAb(routing, splits, versions));
  }

  /** Versions scored beside the serving one, their results only recorded; `[]` ends shadowing. */
  shadow(name: string, versions: readonly number[]): Promise<RoutingUpdate> {
    return this.change(name, (routing, known) => setShadow(routing, versions, known));
  }

  /** Calls `onChange` with the new routing after each change to `name`; see watch.ts for the guarantees. */
  async watch(name: string, onChange: (routing: Routing) => void | Promise<void>, options?: WatchOptions): Promise<RoutingWatch> {
    const watch = await startWatch(
      {
        name,
        listener: this.listener,
        readRouting: () => this.reading((q) => selectRouting(q, name)),
        readRevision: () => this.reading((q) => selectRevision(q, name)),
      },
      onChange,
      options,
    );
    this.watches.add(watch);
    return {
      initial: watch.initial,
      close: async () => {
        this.watches.delete(watch);
        await watch.close();
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.watches].map((w) => w.close()));
    this.watches.clear();
    if (this.ownsSql) await this.sql.close();
  }

  private change(name: string, decide: (routing: Routing, versions: readonly number[]) => Change | null): Promise<RoutingUpdate> {
    checkName(name);
    return this.inTransaction(async (tx) => {
      await lockName(tx, name);
      const previous = await selectRouting(tx, name);
      const change = decide(previous, await versionNumbers(tx, name));
      if (change === null) return { previous, routing: previous, changed: false };
      return { previous, routing: await applyChange(tx, change, this.actor), changed: true };
    });
  }

  private async reading<T>(work: (q: SqlQuery) => Promise<T>): Promise<T> {
    try {
      await this.ready();
      return await work(this.sql);
    } catch (err) {
      throw this.failure(err);
    }
  }

  private async inTransaction<T>(work: (tx: SqlQuery) => Promise<T>): Promise<T> {
    try {
      await this.ready();
      return await this.sql.transaction(work);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** Refusals pass through; database failures become RTML_E_REGISTRY naming the database. */
  private failure(err: unknown): unknown {
    if (err instanceof RtmlError) return err;
    const reason = unreachableReason(err);
    const what = reason === undefined ? errorMessage(err) : `unreachable (${reason})`;
    return new RtmlError('RTML_E_REGISTRY', `model registry ${this.description}: ${what}`, { cause: err });
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw refuse(`model name ${JSON.stringify(name)}: use letters, digits, '_', '-' and '.', starting with a letter or digit (at most 128 characters)`);
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}

function refuse(message: string): RtmlError {
  return new RtmlError('RTML_E_REGISTRY', message);
}

/** RTML_ACTOR (set it to the person or pipeline behind a service account), else the OS user at this host. */
function defaultActor(): string {
  const set = process.env.RTML_ACTOR?.trim();
  if (set) return set;
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? 'unknown');
  }
  return `${user}@${hostname()}`;
}
