// An idle consumer for bench/bench_fetch_sessions.py (kafka-clients 4.3, fetch sessions on).
//
//   java -cp CLASSES:JARS IdleConsumer HOST:PORT TOPIC PARTITIONS
//
// Assigns every partition of TOPIC at its end and polls until killed (fetch.max.wait.ms 500).

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class IdleConsumer {
    public static void main(String[] args) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "500");
        List<TopicPartition> assigned = new ArrayList<>();
        for (int p = 0; p < Integer.parseInt(args[2]); p++) {
            assigned.add(new TopicPartition(args[1], p));
        }
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(config)) {
            consumer.assign(assigned);
            consumer.seekToEnd(assigned);
            while (true) {
                consumer.poll(Duration.ofMillis(1000));
            }
        }
    }
}
