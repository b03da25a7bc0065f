// The official Java admin (kafka-clients 4.3) altering and describing client quotas (KIP-546).
//
//   java -cp CLASSES:JARS QuotaAdmin HOST:PORT set
//   java -cp CLASSES:JARS QuotaAdmin HOST:PORT describe
//
// "set" validates an alteration only (then prints COUNT <n> of the quotas described), sets
// quotas on four entities, describes them all, describes with a strict filter, tries an
// invalid key (printing ERROR <exception class> <message>), removes one key and describes
// again. "describe" describes every quota (after a restart). Each described entity prints as
//   ENTITY <type>=<name|<default>>,... <key>=<value> ...
// with types and keys sorted; each description ends with END. Exits non-zero on any other error.

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;

public class QuotaAdmin {
    static ClientQuotaEntity entity(String... typesAndNames) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < typesAndNames.length; i += 2) {
            m.put(typesAndNames[i], typesAndNames[i + 1]);
        }
        return new ClientQuotaEntity(m);
    }

    static ClientQuotaAlteration set(ClientQuotaEntity e, String key, Double value) {
        return new ClientQuotaAlteration(e, List.of(new ClientQuotaAlteration.Op(key, value)));
    }

    static void describe(Admin admin, ClientQuotaFilter filter) throws Exception {
        Map<ClientQuotaEntity, Map<String, Double>> found =
            admin.describeClientQuotas(filter).entities().get();
        List<String> lines = new ArrayList<>();
        for (Map.Entry<ClientQuotaEntity, Map<String, Double>> e : found.entrySet()) {
            StringBuilder line = new StringBuilder("ENTITY ");
            List<String> parts = new ArrayList<>();
            for (Map.Entry<String, String> t : new TreeMap<>(e.getKey().entries()).entrySet()) {
                parts.add(t.getKey() + "=" + (t.getValue() == null ? "<default>" : t.getValue()));
            }
            line.append(String.join(",", parts));
            for (Map.Entry<String, Double> v : new TreeMap<>(e.getValue()).entrySet()) {
                line.append(" ").append(v.getKey()).append("=").append(v.getValue());
            }
            lines.add(line.toString());
        }
        Collections.sort(lines);
        lines.forEach(System.out::println);
        System.out.println("END");
    }

    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        try (Admin admin = Admin.create(config)) {
            if (args[1].equals("describe")) {
                describe(admin, ClientQuotaFilter.all());
                return;
            }
            ClientQuotaEntity app = entity("user", "ANONYMOUS", "client-id", "app");
            admin.alterClientQuotas(
                List.of(set(app, "producer_byte_rate", 1024.0)),
                new AlterClientQuotasOptions().validateOnly(true)).all().get();
            int count = admin.describeClientQuotas(ClientQuotaFilter.all()).entities().get().size();
            System.out.println("COUNT " + count);
            Collection<ClientQuotaAlteration> changes = List.of(
                new ClientQuotaAlteration(app, List.of(
                    new ClientQuotaAlteration.Op("producer_byte_rate", 1024.0),
                    new ClientQuotaAlteration.Op("consumer_byte_rate", 2048.0))),
                set(entity("client-id", null), "request_percentage", 50.5),
                set(entity("user", null), "producer_byte_rate", 4096.0),
                set(entity("ip", "127.0.0.1"), "connection_creation_rate", 10.0));
            admin.alterClientQuotas(changes).all().get();
            describe(admin, ClientQuotaFilter.all());
            describe(admin, ClientQuotaFilter.containsOnly(
                List.of(ClientQuotaFilterComponent.ofDefaultEntity("user"))));
            try {
                admin.alterClientQuotas(List.of(set(entity("user", "u"), "nope", 1.0))).all().get();
                System.out.println("NO ERROR");
            } catch (ExecutionException e) {
                System.out.println("ERROR " + e.getCause().getClass().getSimpleName() + " "
                    + e.getCause().getMessage());
            }
            admin.alterClientQuotas(List.of(set(app, "consumer_byte_rate", null))).all().get();
            describe(admin, ClientQuotaFilter.contains(
                List.of(ClientQuotaFilterComponent.ofEntity("client-id", "app"))));
        }
    }
}
