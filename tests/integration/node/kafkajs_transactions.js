'use strict';
// kafkajs transactions against a kafkatwist broker: node kafkajs_transactions.js HOST:PORT TOPIC
//
// Creates TOPIC (2 partitions), then with one transactional producer:
//   1. c0 (p0), c1 (p1) and the offset 7 of partition 0 for group TOPIC-offsets, committed;
//   2. a0 (p0), a1 (p1) and the offset 9 of partition 0 for the same group, aborted;
//   3. c2 (p0), c3 (p1), committed.
// Then reads the group's offsets (admin.fetchOffsets) and consumes TOPIC with a
// read_committed consumer group (readUncommitted: false) until c2 and c3 arrive.
// Prints one JSON object on stdout; exits non-zero on any error.
const { Kafka, logLevel } = require('kafkajs');

const [broker, topic] = process.argv.slice(2);

async function main() {
  const kafka = new Kafka({
    clientId: 'kafkatwist-kafkajs-txn',
    brokers: [broker],
    logLevel: logLevel.WARN,
    retry: { retries: 5, initialRetryTime: 100 },
    connectionTimeout: 3000,
    requestTimeout: 10000,
  });
  const out = { topic };
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });

  const producer = kafka.producer({ transactionalId: `${topic}-txn`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const offsetsGroup = `${topic}-offsets`;
  const steps = [
    { values: ['c0', 'c1'], offset: '7', commit: true },
    { values: ['a0', 'a1'], offset: '9', commit: false },
    { values: ['c2', 'c3'], offset: null, commit: true },
  ];
  for (const step of steps) {
    const txn = await producer.transaction();
    await txn.send({ topic, messages: step.values.map((value, partition) => ({ key: value, value, partition })) });
    if (step.offset !== null) {
      await txn.sendOffsets({
        consumerGroupId: offsetsGroup,
        topics: [{ topic, partitions: [{ partition: 0, offset: step.offset }] }],
      });
    }
    if (step.commit) {
      await txn.commit();
    } else {
      await txn.abort();
    }
  }
  await producer.disconnect();

  const fetched = await admin.fetchOffsets({ groupId: offsetsGroup, topics: [topic] });
  out.offsets = fetched[0].partitions.map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
  await admin.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}-reader`, readUncommitted: false, sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const received = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received only ${JSON.stringify(received)}`)), 20000);
    consumer.on(consumer.events.CRASH, (event) => {
      clearTimeout(timer);
      reject(event.payload.error);
    });
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        received.push({ partition, offset: message.offset, value: message.value.toString() });
        const values = received.map((m) => m.value);
        if (values.includes('c2') && values.includes('c3')) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  out.received = received.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  console.log(JSON.stringify(out));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error && error.stack ? error.stack : error);
    process.exit(1);
  },
);
