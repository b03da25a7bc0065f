// The official Java admin client (kafka-clients 4.3) on group configs (KIP-848 resource type GROUP).
//
//   java -cp CLASSES:JARS GroupConfigs HOST:PORT GROUP
//
// Sets consumer.heartbeat.interval.ms=6000 and consumer.session.timeout.ms=50000 on GROUP with
// incrementalAlterConfigs, then describes GROUP with synonyms and prints each entry as
//   ENTRY <name> <value> <source>
// then tries consumer.session.timeout.ms=1000 (below group.consumer.min.session.timeout.ms) and
// prints
//   REFUSED <exception class simple name> <message>
// then deletes consumer.heartbeat.interval.ms and prints its entry again as ENTRY, then DONE.
// Exits non-zero on any other error.

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.common.config.ConfigResource;

public class GroupConfigs {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, args[1]);
        try (Admin admin = Admin.create(config)) {
            alter(admin, group, List.of(
                set("consumer.heartbeat.interval.ms", "6000"),
                set("consumer.session.timeout.ms", "50000")));
            for (ConfigEntry entry : describe(admin, group).entries()) {
                print(entry);
            }
            try {
                alter(admin, group, List.of(set("consumer.session.timeout.ms", "1000")));
                System.out.println("ACCEPTED");
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                System.out.println("REFUSED " + cause.getClass().getSimpleName() + " " + cause.getMessage());
            }
            alter(admin, group, List.of(new AlterConfigOp(
                new ConfigEntry("consumer.heartbeat.interval.ms", null), AlterConfigOp.OpType.DELETE)));
            print(describe(admin, group).get("consumer.heartbeat.interval.ms"));
        }
        System.out.println("DONE");
    }

    static AlterConfigOp set(String name, String value) {
        return new AlterConfigOp(new ConfigEntry(name, value), AlterConfigOp.OpType.SET);
    }

    static void alter(Admin admin, ConfigResource group, Collection<AlterConfigOp> ops) throws Exception {
        admin.incrementalAlterConfigs(Map.of(group, ops)).all().get();
    }

    static Config describe(Admin admin, ConfigResource group) throws Exception {
        DescribeConfigsOptions options = new DescribeConfigsOptions().includeSynonyms(true);
        return admin.describeConfigs(List.of(group), options).all().get().get(group);
    }

    static void print(ConfigEntry entry) {
        System.out.println("ENTRY " + entry.name() + " " + entry.value() + " " + entry.source());
    }
}
