import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { ROOT } from './support/cli.ts';
import { freePort } from './support/features.ts';

/**
 * `rtml serve --tls-cert --tls-key`: HTTPS with a self-signed certificate made by openssl, checked by
 * a client that trusts only that certificate (and by curl); plain HTTP is not served on the port.
 */

const RTML = join(ROOT, 'bin', 'rtml.mjs');

function get(port: number, path: string, ca: string): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, servername: 'localhost' }, (res) => {
      const protocol = (res.socket as TLSSocket).getProtocol() ?? '';
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, protocol }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('rtml serve over TLS', () => {
  it('serves HTTPS with the given certificate, which a client verifies; plain HTTP gets no answer', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    const port = await freePort();
    const child = spawn(process.execPath, [RTML, 'serve', '--port', String(port), '--registry', `pglite:${join(dir, 'registry')}`, '--artifacts', join(dir, 'models'), '--online', 'memory:', '--tls-cert', cert, '--tls-key', key], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    t.after(() => child.kill('SIGKILL'));
    // A new PGlite data dir takes seconds to initialise, more on a busy machine.
    for (let i = 0; i < 1200 && !stderr.includes('serving on'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(stderr, new RegExp(`serving on https://127\\.0\\.0\\.1:${port} `));
    const ca = readFileSync(cert, 'utf8');
    const health = await get(port, '/health', ca);
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { live: true });
    assert.match(health.protocol, /^TLSv1\.[23]$/);
    // curl with only this certificate trusted: the chain verifies.
    const curl = execFileSync('curl', ['-sS', '--cacert', cert, '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/health`], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(curl), { live: true });
    // A client trusting nothing else refuses it (it is self-signed, not from a public CA).
    await assert.rejects(fetch(`https://127.0.0.1:${port}/health`), /fetch failed/);
    // Plain HTTP on the TLS port is not answered with a page.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) }));
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, stderr);
  });

  it('refuses a certificate file that is not PEM, and --tls-cert without --tls-key, in one line', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'cert.pem'), 'not a certificate');
    const run = (args: string[]) => {
      try {
        execFileSync(process.execPath, [RTML, 'serve', '--port', '0', '--online', 'memory:', '--registry', `pglite:${join(dir, 'registry')}`, ...args], { cwd: ROOT, stdio: 'pipe', encoding: 'utf8' });
        return '';
      } catch (err) {
        return String((err as { stderr: string }).stderr);
      }
    };
    assert.match(run(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'cert.pem')]), /--tls-cert .*cert\.pem: not a PEM file/);
    assert.match(run(['--tls-cert', join(dir, 'cert.pem')]), /--tls-cert and --tls-key go together/);
  });
});
