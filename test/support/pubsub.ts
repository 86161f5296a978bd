import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './features.ts';

export interface PubSubEmulator {
  /** host:port, for PUBSUB_EMULATOR_HOST. */
  host: string;
  stop(): Promise<void>;
}

/**
 * Starts the Pub/Sub emulator (`gcloud beta emulators pubsub start`, a Java process) on a free port
 * (or `port`), resolving once it answers HTTP. `stop` kills its whole process group.
 */
export async function startPubSubEmulator(options: { port?: number; timeoutMs?: number } = {}): Promise<PubSubEmulator> {
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const child = spawn('gcloud', ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, '--project=test', '--quiet'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const stop = async (): Promise<void> => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const killed = await Promise.race([exit.then(() => true), sleep(5000).then(() => false)]);
    if (!killed) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exit;
    }
  };
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(`pubsub emulator exited before answering:\n${output}`);
    try {
      const res = await fetch(`http://${host}/v1/projects/test/topics`, { signal: AbortSignal.timeout(1000) });
      if (res.status < 500) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pubsub emulator did not answer on ${host} within ${options.timeoutMs ?? 60_000} ms:\n${output}`);
    }
    await sleep(200);
  }
  return { host, stop };
}
