/**
 * The embedded event log as other packages may use it: open, append, read and decode a topic, and
 * its source and sink connectors. Segment layout, record format and recovery stay private.
 */
export { eventEncoder, type EncodedEvent } from './eventEncoder.ts';
export { EventLog, type AppendResult, type EventLogOpenOptions } from './eventLog.ts';
export { LogReader, type CursorRequest, type LogInfo, type PartitionInfo, type StartPosition } from './logReader.ts';
export { partitionFor } from './partitioner.ts';
export { PayloadDecoder } from './payloadDecoder.ts';
export { logSink, type LogSinkOptions } from './sink.ts';
export { logSource } from './source.ts';
