import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * kafka-clients 4.3 over SASL_PLAINTEXT.
 *
 * <p>{@code SaslClient BOOTSTRAP MECHANISM USER PASSWORD wrong}: an Admin call; prints
 * {@code ERROR <exception class> <message>} (or {@code CONNECTED}).
 *
 * <p>{@code SaslClient BOOTSTRAP MECHANISM USER PASSWORD produce SECONDS}: a producer sends a
 * record every 200 ms for that long, waiting for each; prints {@code SENT <n>} and
 * {@code REAUTHENTICATIONS <successful-reauthentication-total>}.
 */
public final class SaslClient {
    private SaslClient() {}

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String mechanism = args[1];
        String module = mechanism.equals("PLAIN")
                ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                : "org.apache.kafka.common.security.scram.ScramLoginModule";
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("security.protocol", "SASL_PLAINTEXT");
        props.put("sasl.mechanism", mechanism);
        props.put("sasl.jaas.config",
                module + " required username=\"" + args[2] + "\" password=\"" + args[3] + "\";");
        if (args[4].equals("wrong")) {
            props.put("default.api.timeout.ms", "8000");
            props.put("request.timeout.ms", "5000");
            try (Admin admin = Admin.create(props)) {
                admin.describeCluster().clusterId().get(10, TimeUnit.SECONDS);
                System.out.println("CONNECTED");
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                System.out.println("ERROR " + cause.getClass().getSimpleName() + " " + cause.getMessage());
            }
            return;
        }
        long seconds = Long.parseLong(args[5]);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        props.put("linger.ms", "0");
        int sent = 0;
        double reauthentications = 0;
        try (Producer<String, String> producer = new KafkaProducer<>(props)) {
            long end = System.currentTimeMillis() + seconds * 1000;
            while (System.currentTimeMillis() < end) {
                producer.send(new ProducerRecord<>("java-sasl", "v" + sent)).get(10, TimeUnit.SECONDS);
                sent++;
                Thread.sleep(200);
            }
            for (Map.Entry<MetricName, ? extends Metric> e : producer.metrics().entrySet()) {
                if (e.getKey().name().equals("successful-reauthentication-total")) {
                    reauthentications += ((Number) e.getValue().metricValue()).doubleValue();
                }
            }
        }
        System.out.println("SENT " + sent);
        System.out.println("REAUTHENTICATIONS " + (long) reauthentications);
    }
}
