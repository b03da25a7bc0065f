// The official Java client (kafka-clients 4.3) at its newest versions: a consumer group's commit and
// fetch of offsets (OffsetCommit v10 / OffsetFetch v10, topics by id), Fetch v18, Metadata v13 and
// the admin client's listOffsets (ListOffsets v11, which earliestPendingUpload requires) and
// describeCluster with fenced brokers (DescribeCluster v2, which includeFencedBrokers requires).
//
//   java -cp CLASSES:JARS NewestVersions HOST:PORT TOPIC GROUP
//
// TOPIC must exist, empty, with 2 partitions. Three records go to partition 0 and two to
// partition 1; a consumer in GROUP (classic protocol) reads them, commits, and a second consumer
// of GROUP reads the committed offsets back. Prints
//   LATEST <api> <version>          the newest version of each API this client knows
//   READ <partition> <offset> <value>
//   COMMITTED <partition> <offset>  as fetched by the second consumer
//   LISTED <spec> <partition> <offset>
//   BROKER <id> <fenced>
// then DONE. Exits non-zero on any error, or if the records do not all arrive within 60 s.

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class NewestVersions {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String group = args[2];
        for (ApiKeys key : List.of(ApiKeys.OFFSET_COMMIT, ApiKeys.OFFSET_FETCH, ApiKeys.METADATA,
                ApiKeys.FETCH, ApiKeys.LIST_OFFSETS, ApiKeys.DESCRIBE_CLUSTER)) {
            System.out.println("LATEST " + key.name + " " + key.latestVersion());
        }
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);

        Properties producerConfig = new Properties();
        producerConfig.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producerConfig.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerConfig.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerConfig)) {
            for (int i = 0; i < 3; i++) {
                producer.send(new ProducerRecord<>(topic, 0, 1_700_000_000_000L + i, null, "a" + i));
            }
            for (int i = 0; i < 2; i++) {
                producer.send(new ProducerRecord<>(topic, 1, 1_700_000_000_000L + i, null, "b" + i));
            }
            producer.flush();
        }

        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        long deadline = System.currentTimeMillis() + 60_000;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            consumer.subscribe(List.of(topic));
            int read = 0;
            while (read < 5) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("only " + read + " of 5 records arrived");
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                    System.out.println("READ " + r.partition() + " " + r.offset() + " " + r.value());
                    read++;
                }
            }
            consumer.commitSync(Map.of(p0, new OffsetAndMetadata(3, "done-0"), p1, new OffsetAndMetadata(1)));
        }
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(Set.of(p0, p1));
            for (TopicPartition tp : List.of(p0, p1)) {
                System.out.println("COMMITTED " + tp.partition() + " " + committed.get(tp).offset());
            }
        }

        Properties adminConfig = new Properties();
        adminConfig.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(adminConfig)) {
            Map<String, OffsetSpec> specs = new HashMap<>();
            specs.put("latest", OffsetSpec.latest());
            specs.put("earliest", OffsetSpec.earliest());
            specs.put("max", OffsetSpec.maxTimestamp());
            specs.put("pending", OffsetSpec.earliestPendingUpload());
            for (Map.Entry<String, OffsetSpec> spec : specs.entrySet()) {
                ListOffsetsResult result = admin.listOffsets(Map.of(p0, spec.getValue(), p1, spec.getValue()));
                for (TopicPartition tp : List.of(p0, p1)) {
                    long offset = result.partitionResult(tp).get().offset();
                    System.out.println("LISTED " + spec.getKey() + " " + tp.partition() + " " + offset);
                }
            }
            for (Node node : admin.describeCluster(new DescribeClusterOptions().includeFencedBrokers(true))
                    .nodes().get()) {
                System.out.println("BROKER " + node.id() + " " + node.isFenced());
            }
        }
        System.out.println("DONE");
    }
}
