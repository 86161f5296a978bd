import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { PubSub } from '@google-cloud/pubsub';
import { kinesisClient, parseKinesisUri } from '../../connectors/kinesis/index.ts';
import { startMockKafka, type MockKafka } from './kafka.ts';
import { startKinesisMock, type KinesisMock } from './kinesis.ts';
import { startPubSubEmulator, type PubSubEmulator } from './pubsub.ts';

/** The three cloud peers with a client for each emulator. */
export interface Peers {
  kafka: MockKafka;
  kinesis: KinesisMock;
  pubsub: PubSubEmulator;
  kinesisSdk: KinesisClient;
  pubsubClient: PubSub;
  stop(): Promise<void>;
}

/**
 * Starts librdkafka's mock cluster, kinesis-mock and the Pub/Sub emulator together (the emulator, a
 * JVM, is the slowest). PUBSUB_EMULATOR_HOST points at the emulator until `stop` (rtml child
 * processes inherit it).
 */
export async function startPeers(): Promise<Peers> {
  const [k, kin, ps] = await Promise.allSettled([startMockKafka(), startKinesisMock(), startPubSubEmulator()]);
  const started = [k, kin, ps].flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = [k, kin, ps].find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((peer) => peer.stop()));
    throw failed.reason;
  }
  const [kafka, kinesis, pubsub] = [(k as PromiseFulfilledResult<MockKafka>).value, (kin as PromiseFulfilledResult<KinesisMock>).value, (ps as PromiseFulfilledResult<PubSubEmulator>).value];
  const kinesisSdk = kinesisClient(parseKinesisUri(`kinesis://x?region=us-east-1&endpoint=${encodeURIComponent(kinesis.endpoint)}`));
  const savedHost = process.env.PUBSUB_EMULATOR_HOST;
  process.env.PUBSUB_EMULATOR_HOST = pubsub.host;
  const pubsubClient = new PubSub({ projectId: 'test' });
  return {
    kafka,
    kinesis,
    pubsub,
    kinesisSdk,
    pubsubClient,
    async stop() {
      if (savedHost === undefined) delete process.env.PUBSUB_EMULATOR_HOST;
      else process.env.PUBSUB_EMULATOR_HOST = savedHost;
      await pubsubClient.close();
      kinesisSdk.destroy();
      await Promise.all([kafka.stop(), kinesis.stop(), pubsub.stop()]);
    },
  };
}
