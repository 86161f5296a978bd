import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesisUri } from './uri.ts';

/**
 * A Kinesis client for a parsed URI. Credentials come from the environment (the SDK's default
 * chain); with an explicit endpoint and no AWS_ACCESS_KEY_ID, dummy ones (kinesis-mock accepts any).
 * The NodeHttpHandler is needed by kinesis-mock.
 */
export function kinesisClient(parsed: KinesisUri): KinesisClient {
  const dummy = parsed.endpoint !== undefined && !process.env.AWS_ACCESS_KEY_ID;
  return new KinesisClient({
    region: parsed.region,
    ...(parsed.endpoint !== undefined ? { endpoint: parsed.endpoint } : {}),
    ...(dummy ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } } : {}),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
  });
}
