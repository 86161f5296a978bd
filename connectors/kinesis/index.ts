export { kinesisSink, KEYLESS_PARTITION_KEY, type KinesisSinkOptions } from './sink.ts';
export { kinesisSource, listShards, type KinesisSourceOptions } from './source.ts';
export { kinesisClient } from './client.ts';
export { parseKinesisUri, type KinesisUri } from './uri.ts';
