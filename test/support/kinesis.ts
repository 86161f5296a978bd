import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { freePort } from './features.ts';

/** The installed kinesis-local package (kinesis-mock compiled to JS): its folder holds main.js and server.json. */
function mockDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('kinesis-local/package.json'));
}

export interface KinesisMock {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts kinesis-mock (`node main.js` from the kinesis-local package, run in its folder so it finds
 * its TLS certificate server.json) on a free plain-HTTP port (`port` to choose it) and a free TLS
 * port, and waits until its /healthcheck answers.
 */
export async function startKinesisMock(options: { port?: number } = {}): Promise<KinesisMock> {
  const plain = options.port ?? (await freePort());
  const tls = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['main.js'], {
    cwd: mockDir(),
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(plain),
      KINESIS_MOCK_TLS_PORT: String(tls),
      // Resharding and stream creation complete quickly in tests.
      CREATE_STREAM_DURATION: '100ms',
      DELETE_STREAM_DURATION: '100ms',
      SPLIT_SHARD_DURATION: '100ms',
      MERGE_SHARDS_DURATION: '100ms',
      UPDATE_SHARD_COUNT_DURATION: '100ms',
      SHOULD_PERSIST_DATA: 'false',
      LOAD_DATA_IF_EXISTS: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${plain}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kinesis-mock exited with ${child.exitCode}: ${output}`);
    try {
      const res = await fetch(`${endpoint}/healthcheck`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return { endpoint, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`kinesis-mock did not answer on ${endpoint} within 30 s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
