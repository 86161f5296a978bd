import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { offlineStoreFromUri, onlineStoreFromUri } from '../connectors/features/uri.ts';
import { sinkFromUri, sourceFromUri } from '../connectors/uri.ts';
import { URI_FORMS, uriForms, type UriRole } from '../connectors/uriForms.ts';

/**
 * The URI table (connectors/uriForms.ts) against the parsers and `rtml run --help`: every scheme a
 * binding or store accepts is listed, every listed form is accepted in its role, and a refusal
 * names the forms of its role. Nothing here connects: connectors and stores open on first use.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rtml-uri-forms-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A concrete URI per scheme and role; each table row must have one (so a new row must parse). */
const SAMPLES: Record<string, Partial<Record<UriRole, string>>> = {
  file: { source: `file:${join(dir, 'in.jsonl')}`, sink: `file:${join(dir, 'out.jsonl')}` },
  log: { source: `log:${join(dir, 'log/events')}`, sink: `log:${join(dir, 'log/out')}?partitions=3` },
  kafka: { source: 'kafka://127.0.0.1:9092/events?group=g1', sink: 'kafka://127.0.0.1:9092,127.0.0.2:9092/out' },
  kinesis: { source: 'kinesis://events?region=us-east-1', sink: 'kinesis://out?region=eu-west-1&endpoint=http://127.0.0.1:4568' },
  pubsub: { source: 'pubsub://my-project/events-sub?idle=2s', sink: 'pubsub://my-project/out-topic?ordering=true' },
  null: { sink: 'null:' },
  redis: { online: 'redis://127.0.0.1:6379/0' },
  rediss: { online: 'rediss://cache.example.com:6380' },
  memory: { online: 'memory:' },
  postgres: { offline: 'postgres://rtml@127.0.0.1:5432/test' },
  postgresql: { offline: 'postgresql://rtml@127.0.0.1:5432/test' },
  pglite: { offline: `pglite:${join(dir, 'pglite')}` },
};

const PARSE: Record<UriRole, (uri: string) => unknown> = {
  source: (uri) => sourceFromUri(uri, '--source events'),
  sink: (uri) => sinkFromUri(uri, '--sink out'),
  online: (uri) => onlineStoreFromUri(uri),
  offline: (uri) => offlineStoreFromUri(uri),
};

describe('URI schemes', () => {
  it('rtml run --help lists every scheme of every role, with its form', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/rtml.mjs'), 'run', '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const { form } of URI_FORMS) assert.ok(r.stdout.includes(form), `--help lists ${form}`);
    // The schemes the parsers accept today: a row lost from the table fails here.
    for (const scheme of ['file', 'log', 'kafka', 'kinesis', 'pubsub', 'null', 'redis', 'rediss', 'memory', 'postgres', 'postgresql', 'pglite']) {
      assert.match(r.stdout, new RegExp(`^  ${scheme}:`, 'm'), `--help lists ${scheme}:`);
    }
  });

  it('every listed form is accepted in each of its roles', async () => {
    for (const { scheme, roles } of URI_FORMS) {
      for (const role of roles) {
        const sample = SAMPLES[scheme]?.[role];
        assert.ok(sample !== undefined, `a sample ${role} URI for ${scheme}:`);
        assert.ok(sample.startsWith(`${scheme}:`));
        const made = PARSE[role](sample) as { close?: () => Promise<void> };
        if (role === 'online' || role === 'offline') await made.close?.();
      }
    }
  });

  it('a URI of no listed scheme is refused with the forms of its role', () => {
    for (const role of ['source', 'sink', 'online', 'offline'] as const) {
      assert.throws(
        () => PARSE[role]('mqtt://broker/events'),
        (err: Error) => uriForms(role).every((f) => err.message.includes(f.form)),
        `${role}: the refusal lists every ${role} form`,
      );
    }
  });
});
