import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client 4.3 over TLS: produces three records, reads them back, and prints the broker
 * DescribeCluster gives. Prints one line per fact, which tests/integration/test_tls_clients.py
 * checks.
 *
 * Arguments: bootstrap topic, then the client's security settings as key=value.
 */
public final class TlsClient {
    private TlsClient() {}

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        Properties security = new Properties();
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            security.setProperty(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Properties admin = new Properties();
        admin.putAll(security);
        admin.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin client = Admin.create(admin)) {
            for (Node node : client.describeCluster().nodes().get(30, TimeUnit.SECONDS)) {
                System.out.println("node " + node.host() + ":" + node.port());
            }
        }
        Properties producer = new Properties();
        producer.putAll(security);
        producer.setProperty(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producer.setProperty(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producer.setProperty(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> p = new KafkaProducer<>(producer)) {
            for (int i = 0; i < 3; i++) {
                p.send(new ProducerRecord<>(topic, 0, null, "java" + i)).get(30, TimeUnit.SECONDS);
            }
        }
        System.out.println("produced 3");
        Properties consumer = new Properties();
        consumer.putAll(security);
        consumer.setProperty(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        consumer.setProperty(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumer.setProperty(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumer)) {
            TopicPartition partition = new TopicPartition(topic, 0);
            c.assign(List.of(partition));
            c.seekToBeginning(List.of(partition));
            long deadline = System.currentTimeMillis() + 30000;
            while (values.size() < 3 && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> record : c.poll(Duration.ofMillis(500))) {
                    values.add(record.value());
                }
            }
        }
        System.out.println("consumed " + String.join(",", values));
    }
}
