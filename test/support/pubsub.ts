import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Message, PubSub } from '@google-cloud/pubsub';
import { freePort } from './features.ts';
import { keyOf } from './generate.ts';

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

/** A topic and a subscription `<name>-sub` on it (ack deadline 10 s, the minimum: a bounded run lasts at least that). */
export async function topicWithSubscription(client: PubSub, name: string, options: { ordering?: boolean; retainAcked?: boolean } = {}): Promise<void> {
  const [topic] = await client.createTopic(name);
  await topic.createSubscription(`${name}-sub`, { enableMessageOrdering: options.ordering ?? false, ackDeadlineSeconds: 10, retainAckedMessages: options.retainAcked ?? false });
}

/** Publishes JSON lines with the client directly (ordering key = card id when `ordering`). */
export async function publish(client: PubSub, name: string, lines: string[], ordering: boolean): Promise<void> {
  await publishRecords(client, name, lines.map((line) => ({ key: keyOf(line), data: Buffer.from(line) })), ordering);
}

/** Publishes messages (any bytes) with the client directly, in order (ordering key = `key` when `ordering`). */
export async function publishRecords(client: PubSub, name: string, records: { key: string; data: Buffer }[], ordering: boolean): Promise<void> {
  const topic = client.topic(name, { messageOrdering: ordering, batching: { maxMessages: 500, maxMilliseconds: 5 } });
  await Promise.all(records.map(({ key, data }) => topic.publishMessage(ordering ? { data, orderingKey: key } : { data })));
}

/** Pulls `count` messages from a subscription with the client (acknowledging each); fails after `timeoutMs` with fewer. */
export async function pullMessages(client: PubSub, subscription: string, count: number, timeoutMs = 15_000): Promise<Message[]> {
  const got: Message[] = [];
  const sub = client.subscription(subscription);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pulled ${got.length} of ${count} messages from ${subscription}`)), timeoutMs);
      sub.on('message', (m: Message) => {
        got.push(m);
        m.ack();
        if (got.length === count) {
          clearTimeout(timer);
          resolve();
        }
      });
      sub.on('error', reject);
    });
  } finally {
    await sub.close();
  }
  return got;
}
