/**
 * The tiny SQL client the offline store is written against, so Postgres (pg) and PGlite share one
 * code path: the adapters only open connections and run statements.
 */

export type SqlRow = Record<string, unknown>;

export interface SqlQuery {
  query<R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<{ rows: R[] }>;
}

export interface SqlClient extends SqlQuery {
  /** The URI it was made from (password hidden), for messages. */
  readonly description: string;
  /**
   * Runs `fn` in one transaction on one connection (temporary tables and locks live there):
   * committed when it resolves, rolled back when it throws.
   */
  transaction<T>(fn: (tx: SqlQuery) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A quoted identifier: names are validated by featureView(), quoting keeps their case. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
