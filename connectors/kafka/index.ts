export { kafkaSink, type KafkaSinkOptions } from './sink.ts';
export { kafkaSource, type KafkaSourceOptions } from './source.ts';
export { parseRegistryUrl, SchemaRegistry, valueSubject, type SchemaRegistryOptions } from './schemaRegistry.ts';
export { parseKafkaUri, type KafkaUri } from './uri.ts';
export { encodeWire, LocalSchemaIds, wireSchemaId, wirePayloads } from './wireFormat.ts';
