'use strict';
// kafkajs over SASL: node kafkajs_sasl.js HOST:PORT TOPIC MECHANISM USER PASSWORD
//
// Creates the topic, produces five messages, reads the topic's end offset.
// Prints one JSON object on stdout: {produced, end} on success, or
// {error, message} when the client fails (a refused authentication).
const { Kafka, logLevel } = require('kafkajs');

const [broker, topic, mechanism, username, password] = process.argv.slice(2);

async function main() {
  const kafka = new Kafka({
    clientId: 'kafkatwist-kafkajs-sasl',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 3000,
    requestTimeout: 10000,
    sasl: { mechanism: mechanism.toLowerCase(), username, password },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    const acks = await producer.send({
      topic,
      messages: [0, 1, 2, 3, 4].map((i) => ({ value: `m${i}` })),
    });
    await producer.disconnect();
    const offsets = await admin.fetchTopicOffsets(topic);
    console.log(JSON.stringify({ produced: acks.length, end: Number(offsets[0].high) }));
  } catch (e) {
    console.log(JSON.stringify({ error: e.name, message: e.message }));
  } finally {
    await admin.disconnect();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
