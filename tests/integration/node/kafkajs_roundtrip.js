'use strict';
// kafkajs against a kafkatwist broker: node kafkajs_roundtrip.js HOST:PORT TOPIC [produce|roundtrip]
//
// produce: create the topic (3 partitions), send keyed messages with headers
// (plain and GZIP batches), read the metadata back.
// roundtrip: the same, then consume everything back with a consumer group.
// Prints one JSON object on stdout; exits non-zero on any error.
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const [broker, topic, mode = 'roundtrip'] = process.argv.slice(2);
const COUNT = 20;

async function main() {
  const kafka = new Kafka({
    clientId: 'kafkatwist-kafkajs',
    brokers: [broker],
    logLevel: logLevel.WARN,
    retry: { retries: 3, initialRetryTime: 100 },
    connectionTimeout: 3000,
    requestTimeout: 10000,
  });
  const out = { topic };
  const admin = kafka.admin();
  await admin.connect();
  out.created = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  out.duplicate = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  out.partitions = meta.topics[0].partitions.map((p) => ({ partition: p.partitionId, leader: p.leader })).sort((a, b) => a.partition - b.partition);
  out.topics = (await admin.listTopics()).sort();
  const scratch = `${topic}-scratch`;
  await admin.createTopics({ topics: [{ topic: scratch, numPartitions: 1 }], waitForLeaders: true });
  await admin.createPartitions({ topicPartitions: [{ topic: scratch, count: 4 }] });
  const grown = await admin.fetchTopicMetadata({ topics: [scratch] });
  out.scratch_partitions = grown.topics[0].partitions.length;
  await admin.deleteTopics({ topics: [scratch] });
  out.topics_after_delete = (await admin.listTopics()).sort();
  await admin.disconnect();

  const producer = kafka.producer();
  await producer.connect();
  const sent = [];
  for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
    const messages = [];
    for (let i = 0; i < COUNT / 2; i++) {
      const n = sent.length + messages.length;
      messages.push({ key: `key-${n}`, value: `value-${n}`, partition: n % 3, headers: { n: String(n) } });
    }
    const results = await producer.send({ topic, messages, acks: -1, compression });
    sent.push(...messages);
    out[`send_${compression}`] = results.map((r) => ({ partition: r.partition, errorCode: r.errorCode, baseOffset: r.baseOffset })).sort((a, b) => a.partition - b.partition);
  }
  await producer.disconnect();
  out.sent = sent.length;

  if (mode === 'roundtrip') {
    const consumer = kafka.consumer({ groupId: `${topic}-group`, sessionTimeout: 10000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const received = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${received.length} of ${COUNT}`)), 20000);
      consumer.on(consumer.events.CRASH, (event) => {
        clearTimeout(timer);
        reject(event.payload.error);
      });
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          received.push({
            partition,
            offset: message.offset,
            key: message.key && message.key.toString(),
            value: message.value && message.value.toString(),
            headers: Object.fromEntries(Object.entries(message.headers || {}).map(([k, v]) => [k, v.toString()])),
          });
          if (received.length >= COUNT) {
            clearTimeout(timer);
            resolve();
          }
        },
      }).catch(reject);
    });
    await consumer.disconnect();
    out.received = received.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`kafkajs: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
