// The official Java client (kafka-clients 4.3) as a KIP-848 consumer group member.
//
//   java -cp CLASSES:JARS Kip848Consumer HOST:PORT GROUP INSTANCE_ID|- REGEX|topics:A,B COUNT close|halt
//
// Subscribes with group.protocol=consumer to the topics matching REGEX (a SubscribedTopicRegex,
// resolved by the broker) or to the topics listed, as a static member when INSTANCE_ID is not "-". Reads COUNT records,
// committing after each poll, printing
//   RECORD <topic> <partition> <offset> <value>
// then either closes (leaving the group) and prints DONE, or prints HALT and halts the JVM
// without leaving: a crashed member, which the broker fences when its session expires.
// Exits non-zero if the records do not all arrive within 60 s.

import java.time.Duration;
import java.util.Arrays;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.serialization.StringDeserializer;

public class Kip848Consumer {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        config.put(ConsumerConfig.GROUP_ID_CONFIG, args[1]);
        if (!args[2].equals("-")) {
            config.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, args[2]);
        }
        config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        int count = Integer.parseInt(args[4]);
        boolean halt = args[5].equals("halt");
        long deadline = System.currentTimeMillis() + 60_000;
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config);
        if (args[3].startsWith("topics:")) {
            consumer.subscribe(Arrays.asList(args[3].substring(7).split(",")));
        } else {
            consumer.subscribe(new SubscriptionPattern(args[3]));
        }
        int read = 0;
        while (read < count) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("only " + read + " of " + count + " records arrived");
            }
            ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
            for (ConsumerRecord<String, String> r : records) {
                System.out.println("RECORD " + r.topic() + " " + r.partition() + " " + r.offset() + " " + r.value());
                read++;
            }
            if (!records.isEmpty()) {
                consumer.commitSync();
            }
        }
        System.out.flush();
        if (halt) {
            System.out.println("HALT");
            System.out.flush();
            Runtime.getRuntime().halt(0);
        }
        consumer.close();
        System.out.println("DONE");
    }
}
