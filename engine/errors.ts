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
  RTML_E_FENCED: 'a newer run of the same task took over its transactional writer',
  RTML_E_USAGE: 'bad command-line usage',
  RTML_E_TRAIN: 'model training problem',
  RTML_E_MODEL: 'bad model file',
  RTML_E_REGISTRY: 'model registry problem',
  RTML_E_HTTP_JSON: 'request body is not valid JSON',
  RTML_E_HTTP_REQUEST: 'bad request',
  RTML_E_HTTP_UNAUTHORIZED: 'missing or invalid credentials',
  RTML_E_HTTP_FORBIDDEN: 'credentials lack the scope this route needs',
  RTML_E_HTTP_NOT_FOUND: 'no such route',
  RTML_E_HTTP_METHOD: 'method not allowed on this route',
  RTML_E_HTTP_TIMEOUT: 'request not received in time',
  RTML_E_HTTP_TOO_LARGE: 'request body over the limit',
  RTML_E_HTTP_MEDIA_TYPE: 'unsupported content type',
  RTML_E_HTTP_RATE_LIMIT: 'rate limit exceeded',
  RTML_E_UNKNOWN_MODEL: 'no such model or version',
  RTML_E_FEATURE: 'missing or ill-typed feature',
  RTML_E_EVENT: 'event rejected by the source schema',
  RTML_E_UNAVAILABLE: 'not ready to serve',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** The HTTP status `rtml serve` answers with for an error of each code; anything else is a 500. */
export const HttpStatus: Partial<Record<ErrorCode, number>> = {
  RTML_E_HTTP_JSON: 400,
  RTML_E_HTTP_REQUEST: 400,
  RTML_E_HTTP_UNAUTHORIZED: 401,
  RTML_E_HTTP_FORBIDDEN: 403,
  RTML_E_HTTP_NOT_FOUND: 404,
  RTML_E_UNKNOWN_MODEL: 404,
  RTML_E_HTTP_METHOD: 405,
  RTML_E_HTTP_TIMEOUT: 408,
  RTML_E_HTTP_TOO_LARGE: 413,
  RTML_E_HTTP_MEDIA_TYPE: 415,
  RTML_E_FEATURE: 422,
  RTML_E_EVENT: 422,
  RTML_E_HTTP_RATE_LIMIT: 429,
  RTML_E_UNAVAILABLE: 503,
  RTML_E_STORE: 503,
};

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
