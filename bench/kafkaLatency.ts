import type { ConsumerGlobalConfig } from '@confluentinc/kafka-javascript';
import { kafkaModule } from '../connectors/kafka/client.ts';

/**
 * A native consumer of a 3-partition topic's new messages for latency benches, woken by its queue
 * callback and taking what is there (as rtml's source does): the KafkaJS consumer's own loop added
 * ~3 ms per hop. The mock cluster answers an empty fetch only after fetch.wait.max.ms, even when
 * records arrive meanwhile, hence 1 ms. `arrived` gets each message's `sent` field and the time it
 * was read (epoch ms, this process's clock).
 */
export async function arrivalConsumer(
  bootstrap: string,
  topic: string,
  arrived: (sent: number, now: number) => void,
  settings: Partial<ConsumerGlobalConfig> = {},
): Promise<{ drain(): void; close(): Promise<void> }> {
  let consuming = false;
  let again = false;
  const drain = (): void => {
    if (consuming) {
      again = true;
      return;
    }
    consuming = true;
    again = false;
    consumer.consume(1000, (err, messages) => {
      consuming = false;
      if (err) throw err;
      for (const m of messages) arrived((JSON.parse(m.value!.toString()) as { sent: number }).sent, performance.timeOrigin + performance.now());
      if (again || messages.length === 1000) drain();
    });
  };
  const consumer = new (kafkaModule().KafkaConsumer)(
    { 'bootstrap.servers': bootstrap, 'group.id': `arrivals-${topic}-${process.pid}`, 'fetch.wait.max.ms': 1, 'log_level': 0, queue_non_empty_cb: drain, ...settings } as ConsumerGlobalConfig,
    {},
  );
  await new Promise<void>((resolve, reject) => consumer.connect({}, (err) => (err ? reject(err) : resolve())));
  consumer.setDefaultConsumeTimeout(0);
  consumer.assign([0, 1, 2].map((partition) => ({ topic, partition, offset: -1 /* the end */ })));
  return { drain, close: () => new Promise<void>((resolve) => consumer.disconnect(() => resolve())) };
}

/** What the latency benches send with: a KafkaJS-style producer. */
export interface EventSender {
  send(record: { topic: string; messages: { key: string; value: string }[] }): Promise<unknown>;
}

/** Sends 20 events every 50 ms until `flowing()` (results arrive), at most `tries` times; false if they never did. */
export async function warmUp(producer: EventSender, topic: string, event: () => { key: string; value: string }, flowing: () => boolean, tries: number): Promise<boolean> {
  for (let i = 0; i < tries && !flowing(); i++) {
    await producer.send({ topic, messages: Array.from({ length: 20 }, event) });
    await new Promise((r) => setTimeout(r, 50));
  }
  return flowing();
}

/** Open loop: event i of `seconds` at `rate` events/s is sent when it is due, whatever the answers do; returns how many were sent. */
export async function produceAtRate(producer: EventSender, topic: string, rate: number, seconds: number, event: () => { key: string; value: string }): Promise<number> {
  const perMs = rate / 1000;
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor((performance.now() - started) * perMs);
    const batch: { key: string; value: string }[] = [];
    for (; sent < due && batch.length < 1000; sent++) batch.push(event());
    if (batch.length > 0) await producer.send({ topic, messages: batch });
    else await new Promise((r) => setTimeout(r, 1));
  }
  return sent;
}
