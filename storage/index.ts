/**
 * The storage layer's public API, in one import: SQL clients (Postgres, PGlite with its data-dir
 * lock), retry with backoff, the "unreachable, try again" classification, URI redaction and key
 * hashing. Used by the feature store, the model registry and the connectors; imports only engine/.
 */
export { ddlOnce, lockDdl } from './ddl.ts';
export { fnv1a32 } from './hash.ts';
export { pgliteClient, type PgliteRole } from './pglite.ts';
export { postgresClient } from './postgres.ts';
export { redactUri } from './redact.ts';
export { Backoff, retryWithBackoff, type RetryAttempt, type RetryGiveUp, type RetryPolicy } from './retry.ts';
export { ident, type SqlClient, type SqlQuery, type SqlRow } from './sql.ts';
export { StoreUnreachableError, unreachableReason } from './unreachable.ts';
export { tableFormat, writeTable, type TableColumn, type TableFormat } from './tableFile.ts';
