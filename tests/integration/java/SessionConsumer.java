// The official Java client (kafka-clients 4.3) consuming many partitions: fetch sessions (KIP-227).
//
//   java -cp CLASSES:JARS SessionConsumer HOST:PORT TOPIC PARTITIONS PER_PARTITION
//
// TOPIC must exist, empty, with PARTITIONS partitions. PER_PARTITION records ("v-<p>-<i>") are
// produced to each; an assigned consumer (no group) reads them all from the beginning; it then
// polls idle for a second, produces PER_PARTITION more records to every partition
// ("late-<p>-<i>") and reads those too.
// Every record read is printed as
//   RECORD <partition> <offset> <value>
// then DONE. The consumer's fetches after the first are incremental fetches in one session
// (the broker counts them). Exits non-zero on any error or if the records do not all arrive
// within 60 s.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class SessionConsumer {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        int partitions = Integer.parseInt(args[2]);
        int perPartition = Integer.parseInt(args[3]);

        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        config.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, "4096");

        Properties producerConfig = new Properties();
        producerConfig.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producerConfig.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerConfig.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerConfig.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        producerConfig.put(ProducerConfig.ACKS_CONFIG, "1");

        List<TopicPartition> assigned = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            assigned.add(new TopicPartition(topic, p));
        }
        long deadline = System.currentTimeMillis() + 60_000;
        produce(producerConfig, topic, partitions, perPartition, "v");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            consumer.assign(assigned);
            consumer.seekToBeginning(assigned);
            int read = readUntil(consumer, partitions * perPartition, deadline);
            long idleEnd = System.currentTimeMillis() + 1000;
            while (System.currentTimeMillis() < idleEnd) {
                read += print(consumer.poll(Duration.ofMillis(100)));
            }
            produce(producerConfig, topic, partitions, perPartition, "late");
            readUntil(consumer, 2 * partitions * perPartition - read, deadline);
        }
        System.out.println("DONE");
    }

    static void produce(Properties config, String topic, int partitions, int count, String prefix) {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
            for (int p = 0; p < partitions; p++) {
                for (int i = 0; i < count; i++) {
                    producer.send(new ProducerRecord<>(topic, p, null, prefix + "-" + p + "-" + i));
                }
            }
            producer.flush();
        }
    }

    static int readUntil(KafkaConsumer<String, String> consumer, int count, long deadline) {
        int read = 0;
        while (read < count) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("only " + read + " of " + count + " records arrived");
            }
            read += print(consumer.poll(Duration.ofMillis(200)));
        }
        return read;
    }

    static int print(Iterable<ConsumerRecord<String, String>> records) {
        int n = 0;
        for (ConsumerRecord<String, String> r : records) {
            System.out.println("RECORD " + r.partition() + " " + r.offset() + " " + r.value());
            n++;
        }
        return n;
    }
}
