// The official Java client (kafka-clients 4.3) as a consumer meeting ACLs.
//
//   java -cp CLASSES:JARS AuthzConsumer HOST:PORT GROUP classic|consumer TOPIC COUNT
//
// Subscribes to TOPIC in GROUP with the given group.protocol and polls for up to 30 s:
// prints "RECORDS <n>" once COUNT records arrived (committing them), or
// "ERROR <exception class>" when poll or commit throws (an AuthorizationException
// from the broker's ACLs), then closes. Exits 0 either way; non-zero on a timeout.

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.StringDeserializer;

public class AuthzConsumer {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        config.put(ConsumerConfig.GROUP_ID_CONFIG, args[1]);
        config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, args[2]);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        int count = Integer.parseInt(args[4]);
        long deadline = System.currentTimeMillis() + 30_000;
        int seen = 0;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            consumer.subscribe(List.of(args[3]));
            try {
                while (seen < count) {
                    if (System.currentTimeMillis() > deadline) {
                        System.out.println("TIMEOUT " + seen);
                        System.exit(2);
                    }
                    seen += consumer.poll(Duration.ofMillis(200)).count();
                    consumer.commitSync();
                }
                System.out.println("RECORDS " + seen);
            } catch (KafkaException e) {
                System.out.println("ERROR " + e.getClass().getSimpleName());
            }
        }
    }
}
