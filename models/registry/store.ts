import type { SqlQuery } from '../../storage/index.ts';
import type { ReferenceProfile } from '../../engine/monitoring/profile.ts';
import type { Metrics, ModelSignature } from './inspect.ts';
import { emptyRouting, type Routing, type Split } from './routing.ts';
import { CHANNEL, EVENTS, ROUTING, VERSIONS } from './schema.ts';
import type { Change } from './transitions.ts';

/**
 * The registry's SQL: rows in and out of the tables schema.ts creates. pg returns bigint as text
 * and PGlite as a number, so numbers go through Number(); jsonb comes back parsed from both.
 */

export interface ModelVersion {
  readonly name: string;
  readonly version: number;
  readonly sha256: string;
  readonly createdAt: Date;
  /** Feature names, in the input's column order. */
  readonly features: readonly string[];
  readonly featureCount: number;
  readonly signature: ModelSignature;
  readonly metrics: Metrics | null;
  /** Where the artifact was written (content-addressed: `<artifacts dir>/<sha256>.onnx`). */
  readonly artifact: string;
  readonly sizeBytes: number;
  /** Why the feature list differs from the previous version's; null when it does not. */
  readonly featureChange: string | null;
}

export interface RoutingEvent {
  readonly name: string;
  readonly revision: number;
  readonly action: string;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly at: Date;
  /** Who made the change (user@host, or RTML_ACTOR); null for events recorded before actors were. */
  readonly actor: string | null;
}

const EVENT_COLUMNS = 'name, revision, action, detail, at, actor';
const VERSION_COLUMNS = 'name, version, sha256, created_at, features, feature_count, signature, metrics, artifact, size_bytes, feature_change';

export async function selectVersions(q: SqlQuery, name?: string): Promise<ModelVersion[]> {
  const { rows } = await q.query(
    `SELECT ${VERSION_COLUMNS} FROM ${VERSIONS} ${name === undefined ? '' : 'WHERE name = $1'} ORDER BY name, version`,
    name === undefined ? [] : [name],
  );
  return rows.map(versionFromRow);
}

export async function selectVersion(q: SqlQuery, name: string, version: number): Promise<ModelVersion | undefined> {
  const { rows } = await q.query(`SELECT ${VERSION_COLUMNS} FROM ${VERSIONS} WHERE name = $1 AND version = $2`, [name, version]);
  return rows[0] === undefined ? undefined : versionFromRow(rows[0]);
}

export async function selectBySha(q: SqlQuery, name: string, hash: string): Promise<ModelVersion | undefined> {
  const { rows } = await q.query(`SELECT ${VERSION_COLUMNS} FROM ${VERSIONS} WHERE name = $1 AND sha256 = $2`, [name, hash]);
  return rows[0] === undefined ? undefined : versionFromRow(rows[0]);
}

export async function versionNumbers(q: SqlQuery, name: string): Promise<number[]> {
  const { rows } = await q.query<{ version: number }>(`SELECT version FROM ${VERSIONS} WHERE name = $1 ORDER BY version`, [name]);
  return rows.map((r) => Number(r.version));
}

/** A version's reference profile: null when its model file recorded none; undefined when there is no such version. */
export async function selectProfile(q: SqlQuery, name: string, version: number): Promise<unknown> {
  const { rows } = await q.query<{ profile: unknown }>(`SELECT profile FROM ${VERSIONS} WHERE name = $1 AND version = $2`, [name, version]);
  return rows[0] === undefined ? undefined : rows[0].profile;
}

export type NewVersion = Omit<ModelVersion, 'createdAt'> & { readonly profile: ReferenceProfile | null };

export async function insertVersion(q: SqlQuery, v: NewVersion): Promise<ModelVersion> {
  const { rows } = await q.query(
    `INSERT INTO ${VERSIONS} (${VERSION_COLUMNS}, profile) VALUES ($1, $2, $3, now(), $4::jsonb, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11::jsonb) RETURNING ${VERSION_COLUMNS}`,
    [
      v.name,
      v.version,
      v.sha256,
      JSON.stringify(v.features),
      v.featureCount,
      JSON.stringify(v.signature),
      v.metrics === null ? null : JSON.stringify(v.metrics),
      v.artifact,
      v.sizeBytes,
      v.featureChange,
      v.profile === null ? null : JSON.stringify(v.profile),
    ],
  );
  return versionFromRow(rows[0]!);
}

export async function selectRouting(q: SqlQuery, name: string): Promise<Routing> {
  const { rows } = await q.query(
    `SELECT name, revision, production, production_history, staging, ab, shadow, updated_at FROM ${ROUTING} WHERE name = $1`,
    [name],
  );
  const r = rows[0];
  if (r === undefined) return emptyRouting(name);
  return {
    name,
    revision: Number(r.revision),
    production: r.production === null ? null : Number(r.production),
    productionHistory: r.production_history as number[],
    staging: r.staging as number[],
    ab: r.ab as Split[],
    shadow: r.shadow as number[],
    updatedAt: new Date(r.updated_at as string | Date),
  };
}

/** The routing's revision alone: what a polling watcher reads every interval. */
export async function selectRevision(q: SqlQuery, name: string): Promise<number> {
  const { rows } = await q.query<{ revision: number | string }>(`SELECT revision FROM ${ROUTING} WHERE name = $1`, [name]);
  return rows[0] === undefined ? 0 : Number(rows[0].revision);
}

/**
 * Writes a change: the routing row with the next revision, its event, and the NOTIFY — all in the
 * caller's transaction, so listeners hear of it only once it is committed, and never of a change
 * that was rolled back.
 */
export async function applyChange(tx: SqlQuery, change: Change, actor: string): Promise<Routing> {
  const r = change.routing;
  const revision = r.revision + 1;
  const { rows } = await tx.query<{ updated_at: string | Date }>(
    `INSERT INTO ${ROUTING} (name, revision, production, production_history, staging, ab, shadow, updated_at) ` +
      'VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7::jsonb, now()) ' +
      'ON CONFLICT (name) DO UPDATE SET revision = EXCLUDED.revision, production = EXCLUDED.production, production_history = EXCLUDED.production_history, ' +
      'staging = EXCLUDED.staging, ab = EXCLUDED.ab, shadow = EXCLUDED.shadow, updated_at = EXCLUDED.updated_at RETURNING updated_at',
    [r.name, revision, r.production, JSON.stringify(r.productionHistory), JSON.stringify(r.staging), JSON.stringify(r.ab), JSON.stringify(r.shadow)],
  );
  await insertEvent(tx, r.name, revision, change.action, change.detail, actor);
  await tx.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ name: r.name, revision })]);
  return { ...r, revision, updatedAt: new Date(rows[0]!.updated_at) };
}

/** One row of the audit history; `revision` is the routing revision the event belongs to. */
export async function insertEvent(q: SqlQuery, name: string, revision: number, action: string, detail: Readonly<Record<string, unknown>>, actor: string): Promise<RoutingEvent> {
  const { rows } = await q.query(`INSERT INTO ${EVENTS} (name, revision, action, detail, actor) VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING ${EVENT_COLUMNS}`, [
    name,
    revision,
    action,
    JSON.stringify(detail),
    actor,
  ]);
  return eventFromRow(rows[0]!);
}

export async function selectEvents(q: SqlQuery, name: string): Promise<RoutingEvent[]> {
  const { rows } = await q.query(`SELECT ${EVENT_COLUMNS} FROM ${EVENTS} WHERE name = $1 ORDER BY id`, [name]);
  return rows.map(eventFromRow);
}

/** The latest event of `name` with this action; undefined when there is none. */
export async function selectLastEvent(q: SqlQuery, name: string, action: string): Promise<RoutingEvent | undefined> {
  const { rows } = await q.query(`SELECT ${EVENT_COLUMNS} FROM ${EVENTS} WHERE name = $1 AND action = $2 ORDER BY id DESC LIMIT 1`, [name, action]);
  return rows[0] === undefined ? undefined : eventFromRow(rows[0]);
}

function eventFromRow(r: Record<string, unknown>): RoutingEvent {
  return {
    name: r.name as string,
    revision: Number(r.revision),
    action: r.action as string,
    detail: r.detail as Record<string, unknown>,
    at: new Date(r.at as string | Date),
    actor: (r.actor as string | null) ?? null,
  };
}

function versionFromRow(r: Record<string, unknown>): ModelVersion {
  return {
    name: r.name as string,
    version: Number(r.version),
    sha256: r.sha256 as string,
    createdAt: new Date(r.created_at as string | Date),
    features: r.features as string[],
    featureCount: Number(r.feature_count),
    signature: r.signature as ModelSignature,
    metrics: (r.metrics ?? null) as Metrics | null,
    artifact: r.artifact as string,
    sizeBytes: Number(r.size_bytes),
    featureChange: (r.feature_change ?? null) as string | null,
  };
}
