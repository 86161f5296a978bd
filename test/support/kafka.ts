import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyOf } from './generate.ts';

/**
 * A librdkafka mock cluster (3 brokers, the real Kafka protocol) in a child process, built from
 * kafka-mock.c with gcc on first use (cached in the temp dir by source mtime).
 *
 * `transactions`: the cluster also acts as Kafka's transaction coordinator where the mock does not
 * (kafka-mock.c says what it adds and what is still left out); built against the librdkafka the
 * Kafka client bundles, whose mock has transactions, statically with its internal headers.
 */

const SOURCE = fileURLToPath(new URL('./kafka-mock.c', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../node_modules/@confluentinc/kafka-javascript', import.meta.url));

function launcher(transactions: boolean): string {
  const bin = join(tmpdir(), `rtml-kafka-mock-${transactions ? 'txn-' : ''}${Math.floor(statSync(SOURCE).mtimeMs)}`);
  if (!existsSync(bin)) {
    const tmp = `${bin}.${process.pid}`;
    const link = transactions
      ? ['-DRTML_TRANSACTIONS', `-I${join(CLIENT, 'deps/librdkafka/src')}`, '-o', tmp, SOURCE, join(CLIENT, 'build/deps/librdkafka.a'), '-lssl', '-lcrypto', '-lz', '-lzstd', '-llz4', '-lsasl2', '-lcurl', '-lm', '-lpthread', '-lrt', '-ldl']
      : ['-o', tmp, SOURCE, '-lrdkafka', '-ldl'];
    execFileSync('gcc', ['-O1', '-rdynamic', ...link], { stdio: 'inherit' });
    execFileSync('mv', [tmp, bin]);
  }
  return bin;
}

export interface MockKafka {
  /** Comma-separated host:port of the three brokers. */
  bootstrap: string;
  /** Creates a topic with `partitions` partitions (auto-created topics get the default count). */
  createTopic(name: string, partitions: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startMockKafka(options: { transactions?: boolean } = {}): Promise<MockKafka> {
  const child: ChildProcessWithoutNullStreams = spawn(launcher(options.transactions ?? false), [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buffered = '';
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const nextLine = (): Promise<string> =>
    lines.length > 0
      ? Promise.resolve(lines.shift()!)
      : Promise.race([
          new Promise<string>((resolve) => waiters.push(resolve)),
          exited.then(() => Promise.reject(new Error(`kafka mock exited: ${stderr}`))),
        ]);
  const bootstrap = await nextLine();
  return {
    bootstrap,
    async createTopic(name, partitions) {
      child.stdin.write(`topic ${name} ${partitions}\n`);
      const answer = await nextLine();
      if (answer !== 'ok') throw new Error(`kafka mock: cannot create topic ${name}: ${answer}`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** A TCP listener on a port that forwards to `target` (host:port), for a broker that appears later. */
export function forwarder(port: number, target: string): Promise<{ close(): Promise<void> }> {
  const [host, targetPort] = target.split(':');
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(targetPort), host);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}


/** Produces JSON lines to `topic` with kcat, each keyed by its card (`keyOf`), in order. */
export function produceKeyed(kafka: MockKafka, topic: string, lines: readonly string[]): void {
  execFileSync('kcat', ['-P', '-b', kafka.bootstrap, '-t', topic, '-K:'], { input: lines.map((l) => `${keyOf(l)}:${l}`).join('\n') + '\n' });
}

/** Produces messages (any bytes, each with its key) to `topic` with kcat, in order; no value may hold the delimiter. */
export function produceKeyedBytes(kafka: MockKafka, topic: string, records: readonly { key: string; data: Buffer }[]): void {
  const end = Buffer.from('<rtml-message-end>');
  for (const r of records) if (r.data.includes(end) || r.key.includes('\t')) throw new Error(`message ${r.key} holds a delimiter`);
  const input = Buffer.concat(records.flatMap((r) => [Buffer.from(`${r.key}\t`), r.data, end]));
  execFileSync('kcat', ['-P', '-b', kafka.bootstrap, '-t', topic, '-K', '\\t', '-D', end.toString()], { input });
}

/** Every message of `topic` as [key, value], read to its end with kcat (values must be single lines without tabs). */
export function consumeTopic(kafka: MockKafka, topic: string): [string, string][] {
  const read = execFileSync('kcat', ['-C', '-e', '-q', '-b', kafka.bootstrap, '-t', topic, '-f', '%k\t%s\n'], { maxBuffer: 1 << 28 }).toString();
  return read.split('\n').filter((l) => l !== '').map((l) => l.split('\t') as [string, string]);
}
