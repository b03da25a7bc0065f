// kafka-clients 4.3's producer, consumer and admin against a broker with ACLs: what each
// command sees. The Java client names topics by id (Produce v13, Fetch v13+, Metadata).
//
//   java -cp CLASSES:JARS AuthzClients HOST:PORT [KEY=VALUE...] COMMAND...
//
// KEY=VALUE arguments are client settings every client takes (security.protocol, sasl.*...).
// Commands, each printing one line:
//   produce:TOPIC        PRODUCE TOPIC OK | PRODUCE TOPIC <exception class> (idempotent: the default)
//   produce:TOPIC:plain  the same with enable.idempotence=false
//   consume:TOPIC:COUNT  CONSUME TOPIC <records read> | CONSUME TOPIC <exception class>
//   list                 TOPICS <names, sorted, comma-separated>
// then DONE.

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class AuthzClients {
    /** The KEY=VALUE arguments: settings added to every client's. */
    static final Properties SETTINGS = new Properties();

    static String produce(String bootstrap, String topic, boolean idempotent) {
        Properties props = new Properties();
        props.putAll(SETTINGS);
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(idempotent));
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "15000");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, "x".getBytes())).get();
            return "OK";
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        } catch (KafkaException e) {
            // An idempotent producer whose InitProducerId was refused fails the record through
            // its future when send() appended it first, or throws KafkaException wrapping the
            // refusal when the answer came first: a race inside the client (the broker's
            // answers are the same). Both report the refusal.
            Throwable cause = e.getCause() instanceof ApiException ? e.getCause() : e;
            return cause.getClass().getSimpleName();
        } catch (InterruptedException e) {
            return e.getClass().getSimpleName();
        }
    }

    static String consume(String bootstrap, String topic, int count) {
        Properties props = new Properties();
        props.putAll(SETTINGS);
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            int read = 0;
            long deadline = System.currentTimeMillis() + 15000;
            while (read < count && System.currentTimeMillis() < deadline) {
                read += consumer.poll(Duration.ofMillis(200)).count();
            }
            return Integer.toString(read);
        } catch (KafkaException e) {
            return e.getClass().getSimpleName();
        }
    }

    static String list(String bootstrap) throws Exception {
        Properties props = new Properties();
        props.putAll(SETTINGS);
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(props)) {
            return String.join(",", new TreeSet<>(admin.listTopics().names().get()));
        }
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq > 0) {
                SETTINGS.setProperty(args[i].substring(0, eq), args[i].substring(eq + 1));
                continue;
            }
            String[] cmd = args[i].split(":");
            switch (cmd[0]) {
                case "produce":
                    boolean idempotent = cmd.length < 3 || !cmd[2].equals("plain");
                    System.out.println(
                        "PRODUCE " + cmd[1] + " " + produce(bootstrap, cmd[1], idempotent));
                    break;
                case "consume":
                    System.out.println("CONSUME " + cmd[1] + " "
                        + consume(bootstrap, cmd[1], Integer.parseInt(cmd[2])));
                    break;
                case "list":
                    System.out.println("TOPICS " + list(bootstrap));
                    break;
                default:
                    throw new IllegalArgumentException(args[i]);
            }
        }
        System.out.println("DONE");
    }
}
