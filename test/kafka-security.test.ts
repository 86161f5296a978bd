import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kafkaSink } from '../connectors/kafka/index.ts';
import { kafkaUriFor, parseKafkaUri } from '../connectors/kafka/uri.ts';
import { consumeTopic, startMockKafka, type MockKafka } from './support/kafka.ts';

/**
 * Kafka security for managed clusters: librdkafka's TLS and SASL settings come from the kafka://
 * URI (secrets from the environment), and reach librdkafka — a value it refuses is refused with
 * its own message, and valid settings reach a real (mock) broker.
 */

let kafka: MockKafka;
before(async () => (kafka = await startMockKafka()));
after(async () => kafka?.stop());

describe('kafka:// security settings', () => {
  it('are read from the URI; secrets only from the environment, never from the URI', (t) => {
    const uri = 'kafka://b1.example.com:9092/payments?group=g&security.protocol=SASL_SSL&sasl.mechanisms=PLAIN&sasl.username=svc&ssl.ca.location=/etc/ssl/ca.pem';
    assert.deepEqual(parseKafkaUri(uri).security, { 'security.protocol': 'SASL_SSL', 'sasl.mechanisms': 'PLAIN', 'sasl.username': 'svc', 'ssl.ca.location': '/etc/ssl/ca.pem' });
    assert.throws(() => parseKafkaUri(`${uri}&sasl.password=hunter2`), /sasl\.password does not belong in a URI .* set RTML_KAFKA_SASL_PASSWORD/);
    assert.throws(() => parseKafkaUri(`${uri}&socket.timeout.ms=1`), /unknown parameter "socket.timeout.ms"/);
    process.env.RTML_KAFKA_SASL_PASSWORD = 'hunter2';
    t.after(() => delete process.env.RTML_KAFKA_SASL_PASSWORD);
    const parsed = parseKafkaUri(uri);
    assert.equal(parsed.security['sasl.password'], 'hunter2');
    // The exchange topic of a scale-out run is on the same cluster, with the same settings, and no secret in its URI.
    const exchange = kafkaUriFor(parsed, 'g-topo-repartition', 'g');
    assert.equal(exchange, 'kafka://b1.example.com:9092/g-topo-repartition?group=g&security.protocol=SASL_SSL&sasl.mechanisms=PLAIN&sasl.username=svc&ssl.ca.location=%2Fetc%2Fssl%2Fca.pem');
    assert.deepEqual(parseKafkaUri(exchange).security, parsed.security);
  });

  it('reach librdkafka: a value it refuses fails the sink at open with its message; valid ones connect to a broker', async () => {
    await assert.rejects(kafkaSink(`kafka://${kafka.bootstrap}/secured?security.protocol=bogus`).open({}), /security\.protocol/);
    const sink = await kafkaSink(`kafka://${kafka.bootstrap}/secured?security.protocol=plaintext&ssl.endpoint.identification.algorithm=none`).open({});
    sink.write({ ok: 1 }, 'k', 1);
    await sink.flush();
    await sink.close();
    assert.deepEqual(consumeTopic(kafka, 'secured').map(([, value]) => value), ['{"ok":1}']);
  });
});
