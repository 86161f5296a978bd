/**
 * The one catalogue of rtml errors. Every error a user sees carries a stable `RTML_E…` code and
 * says which file, field or flag to fix.
 */
export const ErrorCodes = {
  RTML_E_DURATION: 'bad duration',
  RTML_E_WINDOW: 'bad window specification',
  RTML_E_AGGREGATE: 'bad aggregation',
  RTML_E_OPERATOR: 'operator used in the wrong place',
  RTML_E_TOPOLOGY: 'bad topology',
  RTML_E_TOPOLOGY_LOAD: 'topology file cannot be loaded',
  RTML_E_BINDING: 'source or sink binding problem',
  RTML_E_URI: 'bad source or sink URI',
  RTML_E_SCHEMA: 'bad Avro schema',
  RTML_E_LOG: 'embedded log problem',
  RTML_E_LOG_LOCKED: 'embedded log is being written by another process',
  RTML_E_PIPELINE: 'pipeline failed',
  RTML_E_FEATURE_VIEW: 'bad feature view',
  RTML_E_STORE: 'feature store problem',
  RTML_E_CHECKPOINT: 'checkpoint problem',
  RTML_E_USAGE: 'bad command-line usage',
  RTML_E_TRAIN: 'model training problem',
  RTML_E_MODEL: 'bad model file',
  RTML_E_REGISTRY: 'model registry problem',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class RtmlError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RtmlError';
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
