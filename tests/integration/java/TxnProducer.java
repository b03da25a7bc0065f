// The official Java client (kafka-clients 4.3) against kafkatwist: transactions and read_committed.
//
//   java -cp CLASSES:JARS TxnProducer HOST:PORT TOPIC
//
// TOPIC must exist with 2 partitions. Four transactions with one transactional id:
//   1. commit-0..4 to partition 0, committed;
//   2. abort-0..4 to partition 0, aborted;
//   3. commit-5 (p0), commit-6 (p1), commit-7 (p0), committed;
//   4. commit-8 (p1) and the offset 3 of partition 0 for group TOPIC-group
//      (sendOffsetsToTransaction), committed.
// Then, for read_committed and read_uncommitted, an assigned consumer reads both
// partitions from the beginning up to endOffsets() and prints
//   RECORD <isolation> <partition> <offset> <value>
//   END <isolation> <partition> <end offset>
// and the group's committed offset: COMMITTED <partition> <offset or -1>.
// A 4.x client uses transaction version 2 (KIP-890) when the broker finalizes
// transaction.version >= 2 in ApiVersions. Exits non-zero on any error.

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnProducer {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String group = topic + "-group";
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);

        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, topic + "-java");
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000");
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "20000");
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        config.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
            producer.initTransactions();

            producer.beginTransaction();
            for (int i = 0; i < 5; i++) {
                producer.send(new ProducerRecord<>(topic, 0, "k" + i, "commit-" + i));
            }
            producer.commitTransaction();

            producer.beginTransaction();
            for (int i = 0; i < 5; i++) {
                producer.send(new ProducerRecord<>(topic, 0, "a" + i, "abort-" + i));
            }
            producer.flush();
            producer.abortTransaction();

            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 0, "k5", "commit-5"));
            producer.send(new ProducerRecord<>(topic, 1, "k6", "commit-6"));
            producer.send(new ProducerRecord<>(topic, 0, "k7", "commit-7"));
            producer.commitTransaction();

            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 1, "k8", "commit-8"));
            try (KafkaConsumer<String, String> member = new KafkaConsumer<>(groupConfig(bootstrap, group))) {
                producer.sendOffsetsToTransaction(Map.of(p0, new OffsetAndMetadata(3)), member.groupMetadata());
            }
            producer.commitTransaction();
        }

        for (String isolation : List.of("read_committed", "read_uncommitted")) {
            Properties c = new Properties();
            c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
            c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
                List<TopicPartition> both = List.of(p0, p1);
                consumer.assign(both);
                consumer.seekToBeginning(both);
                Map<TopicPartition, Long> ends = consumer.endOffsets(both, Duration.ofSeconds(10));
                long deadline = System.currentTimeMillis() + 20000;
                while (consumer.position(p0) < ends.get(p0) || consumer.position(p1) < ends.get(p1)) {
                    if (System.currentTimeMillis() > deadline) {
                        throw new IllegalStateException(isolation + " did not reach " + ends);
                    }
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        System.out.println("RECORD " + isolation + " " + r.partition() + " "
                                + r.offset() + " " + r.value());
                    }
                }
                for (TopicPartition tp : both) {
                    System.out.println("END " + isolation + " " + tp.partition() + " " + ends.get(tp));
                }
            }
        }

        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(groupConfig(bootstrap, group))) {
            Map<TopicPartition, OffsetAndMetadata> committed =
                    consumer.committed(Set.of(p0, p1), Duration.ofSeconds(10));
            for (TopicPartition tp : List.of(p0, p1)) {
                OffsetAndMetadata o = committed.get(tp);
                System.out.println("COMMITTED " + tp.partition() + " " + (o == null ? -1 : o.offset()));
            }
        }
    }

    /** A read_committed consumer of the group that never subscribes (generation -1). */
    private static Properties groupConfig(String bootstrap, String group) {
        Properties g = new Properties();
        g.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        g.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        g.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        g.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        g.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        g.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return g;
    }
}
