import { ddlOnce, type SqlClient, type SqlQuery } from '../../storage/index.ts';

/**
 * The registry's tables, created on first use:
 *
 * - `rtml_model_versions`: one immutable row per (name, version) — sha256 of the artifact, created
 *   time, feature names and count, input/output signature, training metrics, artifact path, and the
 *   reason given when the feature list changed from the previous version, and the training data's
 *   reference profile (what monitoring compares production data with). A trigger refuses UPDATE,
 *   so a version never changes after it is registered (DELETE stays possible, for clean-ups).
 * - `rtml_model_routing`: one row per name — production version, the stack of production versions
 *   rollback walks back, staging versions, the A/B split, shadow versions, and a revision bumped by
 *   every change (what watchers compare).
 * - `rtml_model_events`: the audit history: every registered version, every routing change and
 *   every retraining decision (action, detail, revision, time, and who: the actor).
 */

export const VERSIONS = 'rtml_model_versions';
export const ROUTING = 'rtml_model_routing';
export const EVENTS = 'rtml_model_events';

/** The NOTIFY channel every routing change is announced on; the payload is `{"name":…,"revision":…}`. */
export const CHANNEL = 'rtml_models';

/** First key of the two-key advisory lock taken per model name ('rtmr'); the second is hashtext(name). */
export const NAME_LOCK = 0x72746d72;

const DDL = [
  `CREATE TABLE IF NOT EXISTS ${VERSIONS} (
     name text NOT NULL,
     version integer NOT NULL CHECK (version >= 1),
     sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
     created_at timestamptz NOT NULL DEFAULT now(),
     features jsonb NOT NULL,
     feature_count integer NOT NULL,
     signature jsonb NOT NULL,
     metrics jsonb,
     artifact text NOT NULL,
     size_bytes bigint NOT NULL,
     feature_change text,
     PRIMARY KEY (name, version),
     UNIQUE (name, sha256))`,
  // The training data's reference profile (engine/monitoring/profile.ts), from the model file's
  // metadata; a column added later, so tables made before it get it too.
  `ALTER TABLE ${VERSIONS} ADD COLUMN IF NOT EXISTS profile jsonb`,
  `CREATE OR REPLACE FUNCTION rtml_model_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     RAISE EXCEPTION 'model versions are immutable: % v% cannot be updated; register a new version', OLD.name, OLD.version;
   END $$`,
  `CREATE OR REPLACE TRIGGER rtml_model_versions_immutable BEFORE UPDATE ON ${VERSIONS}
     FOR EACH ROW EXECUTE FUNCTION rtml_model_versions_immutable()`,
  `CREATE TABLE IF NOT EXISTS ${ROUTING} (
     name text PRIMARY KEY,
     revision bigint NOT NULL,
     production integer,
     production_history jsonb NOT NULL,
     staging jsonb NOT NULL,
     ab jsonb NOT NULL,
     shadow jsonb NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS ${EVENTS} (
     id bigserial PRIMARY KEY,
     name text NOT NULL,
     revision bigint NOT NULL,
     action text NOT NULL,
     detail jsonb NOT NULL,
     at timestamptz NOT NULL DEFAULT now())`,
  `CREATE INDEX IF NOT EXISTS ${EVENTS}_name ON ${EVENTS} (name, id)`,
  // Who made the change (RegistryOptions.actor); a column added later, null in older rows.
  `ALTER TABLE ${EVENTS} ADD COLUMN IF NOT EXISTS actor text`,
];

/** Creates the tables (once per client); see ddlOnce. */
export function schemaOnce(sql: SqlClient): () => Promise<void> {
  return ddlOnce(sql, DDL);
}

/** Serialises every change to one model name (versions and routing) until the transaction ends. */
export async function lockName(tx: SqlQuery, name: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [NAME_LOCK, name]);
}
