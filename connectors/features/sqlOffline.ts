import type { FeatureRow, FeatureValue, FeatureView } from '../../engine/features.ts';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import type { AsOfColumn, OfflineStore, OnlineFeatures, RegisteredView } from './stores.ts';
import { StoreUnreachableError, ident, lockDdl, unreachableReason, type SqlClient, type SqlQuery } from '../../storage/index.ts';

/**
 * The offline store over any SqlClient (Postgres, PGlite). Layout:
 *
 * - `fv_<view>`: `entity text, event_time bigint` (epoch ms), one `double precision` column per
 *   feature, `PRIMARY KEY (entity, event_time)`. A feature a view gains becomes a new column
 *   (older rows hold null there); columns of features it drops stay.
 * - `rtml_feature_views (name, entity, time_field, features jsonb, ttl_ms, updated_at)`: the views
 *   as last declared, read by exports.
 *
 * Writes are batched upserts (`INSERT … SELECT * FROM unnest(…) ON CONFLICT … DO UPDATE`), so
 * replaying rows after a restart is harmless.
 */

const REGISTRY = 'rtml_feature_views';
const RESERVED_COLUMNS = new Set(['entity', 'event_time']);
const MAX_IDENTIFIER = 63;
const WRITE_CHUNK = 10_000;
const LABEL_CHUNK = 50_000;

export function tableName(view: string): string {
  return `fv_${view}`;
}

export function sqlOffline(sql: SqlClient): OfflineStore {
  const description = sql.description;
  const upserts = new Map<string, string>();

  /** Known failures as RtmlErrors: unreachable (retried by the writer) or RTML_E_STORE. */
  function storeError(err: unknown): unknown {
    if (err instanceof RtmlError) return err;
    const reason = unreachableReason(err);
    if (reason !== undefined) return new StoreUnreachableError(description, reason, { cause: err });
    return new RtmlError('RTML_E_STORE', `feature store ${description}: ${errorMessage(err)}`, { cause: err });
  }
  async function guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw storeError(err);
    }
  }

  function upsertStatement(view: FeatureView): string {
    const cacheKey = `${view.name}\u0000${view.features.join('\u0000')}`;
    let text = upserts.get(cacheKey);
    if (text === undefined) {
      const cols = view.features.map(ident);
      const casts = view.features.map((_, i) => `$${i + 3}::float8[]`);
      text =
        `INSERT INTO ${ident(tableName(view.name))} (entity, event_time, ${cols.join(', ')}) ` +
        `SELECT * FROM unnest($1::text[], $2::bigint[], ${casts.join(', ')}) ` +
        `ON CONFLICT (entity, event_time) DO UPDATE SET ${cols.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;
      upserts.set(cacheKey, text);
    }
    return text;
  }

  async function registered(names: readonly string[]): Promise<RegisteredView[]> {
    const all = await views();
    return names.map((name) => {
      const found = all.find((v) => v.name === name);
      if (found === undefined) {
        const known = all.length === 0 ? 'none registered yet' : `registered: ${all.map((v) => v.name).join(', ')}`;
        throw new RtmlError('RTML_E_FEATURE_VIEW', `no feature view '${name}' in ${description} (${known})`);
      }
      return found;
    });
  }

  async function views(): Promise<RegisteredView[]> {
    const exists = await sql.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [REGISTRY]);
    if (exists.rows[0]?.t == null) return [];
    const { rows } = await sql.query<{ name: string; entity: string; time_field: string; features: string[]; ttl_ms: string | number | null }>(
      `SELECT name, entity, time_field, features, ttl_ms FROM ${REGISTRY} ORDER BY name`,
    );
    return rows.map((r) => ({ name: r.name, entity: r.entity, time: r.time_field, features: r.features, ttl: r.ttl_ms === null ? Infinity : Number(r.ttl_ms) }));
  }

  return {
    description,

    ensureView: (view) =>
      guard(async () => {
        for (const f of view.features) {
          if (RESERVED_COLUMNS.has(f)) throw new RtmlError('RTML_E_FEATURE_VIEW', `feature view '${view.name}' at ${view.at}: feature '${f}' collides with the offline table's ${f} column; rename it`);
          if (Buffer.byteLength(f) > MAX_IDENTIFIER) throw new RtmlError('RTML_E_FEATURE_VIEW', `feature view '${view.name}' at ${view.at}: feature name '${f}' is longer than ${MAX_IDENTIFIER} bytes`);
        }
        const table = ident(tableName(view.name));
        await sql.transaction(async (tx) => {
          await lockDdl(tx);
          await tx.query(
            `CREATE TABLE IF NOT EXISTS ${REGISTRY} (name text PRIMARY KEY, entity text NOT NULL, time_field text NOT NULL, ` +
              'features jsonb NOT NULL, ttl_ms bigint, updated_at timestamptz NOT NULL DEFAULT now())',
          );
          await tx.query(`CREATE TABLE IF NOT EXISTS ${table} (entity text NOT NULL, event_time bigint NOT NULL, PRIMARY KEY (entity, event_time))`);
          const { rows } = await tx.query<{ attname: string }>('SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped', [table]);
          const have = new Set(rows.map((r) => r.attname));
          const missing = view.features.filter((f) => !have.has(f));
          // Only when a column is missing: ALTER TABLE locks the table even when it changes nothing.
          if (missing.length > 0) await tx.query(`ALTER TABLE ${table} ${missing.map((f) => `ADD COLUMN IF NOT EXISTS ${ident(f)} double precision`).join(', ')}`);
          await tx.query(
            `INSERT INTO ${REGISTRY} (name, entity, time_field, features, ttl_ms) VALUES ($1, $2, $3, $4::jsonb, $5) ` +
              'ON CONFLICT (name) DO UPDATE SET entity = EXCLUDED.entity, time_field = EXCLUDED.time_field, features = EXCLUDED.features, ' +
              `ttl_ms = EXCLUDED.ttl_ms, updated_at = now() WHERE (${REGISTRY}.entity, ${REGISTRY}.time_field, ${REGISTRY}.features, ${REGISTRY}.ttl_ms) ` +
              'IS DISTINCT FROM (EXCLUDED.entity, EXCLUDED.time_field, EXCLUDED.features, EXCLUDED.ttl_ms)',
            [view.name, view.entity, view.time, JSON.stringify(view.features), Number.isFinite(view.ttl) ? Math.round(view.ttl) : null],
          );
        });
      }),

    write: (view, rows) =>
      guard(async () => {
        if (rows.length === 0) return;
        const text = upsertStatement(view);
        const unique = lastPerKey(view, rows);
        for (let start = 0; start < unique.length; start += WRITE_CHUNK) {
          const chunk = unique.slice(start, start + WRITE_CHUNK);
          const params: unknown[] = [chunk.map((r) => r.entity), chunk.map((r) => r.time)];
          for (const f of view.features) params.push(chunk.map((r) => r.values[f] ?? null));
          await sql.query(text, params);
        }
      }),

    latest: (view, entities) =>
      guard(async () => {
        if (entities.length === 0) return [];
        const [known] = await registered([view]);
        const cols = known!.features.map((f) => `${ident(f)}`).join(', ');
        const { rows } = await sql.query<Record<string, unknown>>(
          `SELECT DISTINCT ON (entity) entity, event_time, ${cols} FROM ${ident(tableName(view))} WHERE entity = ANY($1::text[]) ORDER BY entity, event_time DESC`,
          [entities],
        );
        const byEntity = new Map<string, OnlineFeatures>();
        for (const row of rows) {
          const values: Record<string, FeatureValue> = {};
          for (const f of known!.features) values[f] = feature(row[f]);
          byEntity.set(row.entity as string, { time: Number(row.event_time), values });
        }
        return entities.map((e) => byEntity.get(e) ?? null);
      }),

    views: () => guard(views),

    asOf: (names, labels) =>
      guard(async () => {
        const known = await registered(names);
        for (const l of labels) {
          if (!Number.isSafeInteger(l.time)) throw new RtmlError('RTML_E_STORE', `label time ${l.time} of entity '${l.entity}' is not a whole number of epoch ms`);
        }
        return sql.transaction(async (tx) => {
          // One snapshot for every view, whatever runs write meanwhile.
          await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
          await tx.query('CREATE TEMPORARY TABLE rtml_labels (ord integer PRIMARY KEY, entity text NOT NULL, time bigint NOT NULL) ON COMMIT DROP');
          for (let start = 0; start < labels.length; start += LABEL_CHUNK) {
            const chunk = labels.slice(start, start + LABEL_CHUNK);
            await tx.query('INSERT INTO rtml_labels SELECT * FROM unnest($1::integer[], $2::text[], $3::bigint[])', [
              chunk.map((_, i) => start + i),
              chunk.map((l) => l.entity),
              chunk.map((l) => l.time),
            ]);
          }
          await tx.query('ANALYZE rtml_labels');
          const columns: AsOfColumn[] = [];
          for (const view of known) columns.push(...(await asOfView(tx, view, labels.length)));
          return columns;
        });
      }),

    close: () => sql.close(),
  };
}

/**
 * One view's values as of each label: the row of the label's entity with the greatest
 * event_time <= the label time (a row exactly at the label time is included), and, with a ttl,
 * event_time > label time - ttl (the value would have expired online by then).
 */
async function asOfView(tx: SqlQuery, view: RegisteredView, n: number): Promise<AsOfColumn[]> {
  const cols = view.features.map(ident);
  const ttl = Number.isFinite(view.ttl);
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT ${cols.map((c) => `f.${c}`).join(', ')} FROM rtml_labels l LEFT JOIN LATERAL (` +
      `SELECT ${cols.join(', ')} FROM ${ident(tableName(view.name))} f ` +
      `WHERE f.entity = l.entity AND f.event_time <= l.time${ttl ? ' AND f.event_time > l.time - $1::bigint' : ''} ` +
      'ORDER BY f.event_time DESC LIMIT 1) f ON true ORDER BY l.ord',
    ttl ? [view.ttl] : [],
  );
  if (rows.length !== n) throw new RtmlError('RTML_E_STORE', `as-of join of view '${view.name}' returned ${rows.length} rows for ${n} labels`);
  return view.features.map((f) => ({ view: view.name, feature: f, values: rows.map((r) => feature(r[f])) }));
}

function feature(v: unknown): FeatureValue {
  return v === null || v === undefined ? null : Number(v);
}

/** The rows with the last one of each (entity, time) kept: Postgres refuses to upsert a row twice in one statement. */
function lastPerKey(view: FeatureView, rows: readonly FeatureRow[]): readonly FeatureRow[] {
  const last = new Map<string, number>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (!Number.isSafeInteger(row.time)) {
      throw new RtmlError('RTML_E_STORE', `feature view '${view.name}': time ${row.time} of entity '${row.entity}' is not a whole number of epoch ms`);
    }
    last.set(`${row.entity}\u0000${row.time}`, i);
  }
  if (last.size === rows.length) return rows;
  return [...last.values()].sort((a, b) => a - b).map((i) => rows[i]!);
}
