import { parseDuration } from '../engine/duration.ts';
import { RtmlError } from '../engine/errors.ts';
import { onlineStoreFromUri } from '../connectors/features/uri.ts';
import { DEFAULT_ARTIFACTS, DEFAULT_REGISTRY, registryModels } from '../models/registry/index.ts';
import { createApiKey } from '../serving/apiKeys.ts';
import { IngestTopic } from '../serving/ingest.ts';
import type { RateLimit } from '../serving/rateLimit.ts';
import { startServer } from '../serving/server.ts';
import { logLine } from '../engine/log.ts';

export interface ServeOptions {
  port: number;
  host: string;
  online: string;
  registry?: string;
  artifacts?: string;
  ingest: string[];
  model: string[];
  apiKeys?: string;
  jwksUrl?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  open: string[];
  rate?: RateLimit;
  maxBody: number;
  bodyTimeout: string;
  threshold: number;
  tlsCert?: string;
  tlsKey?: string;
  auditLog?: string;
  drainTimeout: string;
}

/**
 * `rtml serve`: starts the scoring server with the registry's models and runs until SIGINT or
 * SIGTERM, then drains (--drain-timeout) and exits. A JWT secret is read from the environment (RTML_JWT_SECRET), never from the command
 * line, where `ps` would show it.
 */
export async function serveCommand(options: ServeOptions): Promise<void> {
  const log = (line: string) => logLine(line);
  const secret = process.env.RTML_JWT_SECRET;
  const jwt = secret !== undefined || options.jwksUrl !== undefined ? { secret, jwksUrl: options.jwksUrl, issuer: options.jwtIssuer, audience: options.jwtAudience } : undefined;
  const ingest: IngestTopic[] = [];
  for (const binding of options.ingest) {
    const at = binding.indexOf('=');
    if (at < 1) throw new RtmlError('RTML_E_USAGE', `--ingest ${binding}: expected NAME=log:<dir>/<topic>?schema=<file.avsc>&key=<field>`);
    ingest.push(new IngestTopic(binding.slice(0, at), binding.slice(at + 1)));
  }
  const server = await startServer({
    port: options.port,
    host: options.host,
    models: registryModels(options.registry ?? DEFAULT_REGISTRY, options.artifacts ?? DEFAULT_ARTIFACTS, log),
    only: options.model.length > 0 ? options.model : undefined,
    online: onlineStoreFromUri(options.online),
    ingest,
    auth: { apiKeysFile: options.apiKeys, jwt, open: options.open },
    rate: options.rate,
    body: { maxBytes: options.maxBody, timeoutMs: parseDuration(options.bodyTimeout, '--body-timeout') },
    threshold: options.threshold,
    tls: tlsOf(options),
    auditLog: options.auditLog,
    drainMs: parseDuration(options.drainTimeout, '--drain-timeout'),
    log,
  });
  const status = server.catalog.status();
  log(`rtml: serving on ${options.tlsCert === undefined ? 'http' : 'https'}://${options.host}:${server.port} (models: ${status.models.map((m) => `${m.name} ${m.serving ?? `not served: ${m.reason}`}`).join(', ') || 'none'}${status.ready ? '' : `; not ready: ${status.reasons.join('; ')}`})`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log('rtml: serve: stopping (draining requests in flight)');
  await server.close();
  log('rtml: serve: stopped');
  // Idle keep-alive connections would keep the event loop alive (see RunningServer.close).
  process.exit(0);
}

/** --tls-cert and --tls-key go together; a key's passphrase comes from RTML_TLS_KEY_PASSPHRASE, never the command line. */
function tlsOf(options: ServeOptions): { certFile: string; keyFile: string; passphrase?: string } | undefined {
  if (options.tlsCert === undefined && options.tlsKey === undefined) return undefined;
  if (options.tlsCert === undefined || options.tlsKey === undefined) throw new RtmlError('RTML_E_USAGE', '--tls-cert and --tls-key go together: the certificate (PEM) and its private key');
  return { certFile: options.tlsCert, keyFile: options.tlsKey, passphrase: process.env.RTML_TLS_KEY_PASSPHRASE };
}

export interface KeyCreateOptions {
  file: string;
  scopes: string;
  rate?: RateLimit;
}

/** `rtml keys create <id>`: prints the new key once; the file keeps only its sha256. */
export function keysCreateCommand(id: string, options: KeyCreateOptions): void {
  const key = createApiKey(options.file, { id, scopes: options.scopes.split(',').map((s) => s.trim()), rate: options.rate });
  process.stdout.write(`${key}\n`);
  logLine(`rtml: API key '${id}' written to ${options.file} (only its sha256); this is the only time it is shown`);
}
