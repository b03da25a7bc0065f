import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.ListConfigResourcesOptions;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;

/**
 * The Java admin client 4.3 against a kafkatwist broker with ACLs: DescribeCluster's authorized
 * operations, then one call of each cluster-level admin API. Prints
 *   OPS <label> <sorted operations, or NONE, or NULL>
 *   CALL <label> <api> <OK or the exception's simple class name>
 * which the Python test (tests/integration/test_admin_authorization_clients.py) checks.
 *
 * Arguments: bootstrap topic label.
 */
public final class AuthzAdmin {
    private AuthzAdmin() {}

    static String outcome(KafkaFuture<?> future) throws InterruptedException {
        try {
            future.get(30, TimeUnit.SECONDS);
            return "OK";
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        } catch (java.util.concurrent.TimeoutException e) {
            return "TIMEOUT";
        }
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String label = args[2];
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(props)) {
            Set<AclOperation> ops = admin.describeCluster(
                new DescribeClusterOptions().includeAuthorizedOperations(true)).authorizedOperations().get();
            String shown = "NULL";
            if (ops != null) {
                TreeSet<String> names = new TreeSet<>();
                ops.forEach(op -> names.add(op.name()));
                shown = names.isEmpty() ? "NONE" : String.join(",", names);
            }
            System.out.println("OPS " + label + " " + shown);

            TopicPartition tp0 = new TopicPartition(topic, 0);
            ClientQuotaEntity user = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "bob"));
            Map<String, KafkaFuture<?>> calls = new java.util.LinkedHashMap<>();
            calls.put("DescribeLogDirs", admin.describeLogDirs(List.of(1)).allDescriptions());
            calls.put("DescribeClientQuotas", admin.describeClientQuotas(ClientQuotaFilter.all()).entities());
            calls.put("AlterClientQuotas", admin.alterClientQuotas(
                List.of(new ClientQuotaAlteration(user, List.of(new ClientQuotaAlteration.Op("producer_byte_rate", 1024.0)))),
                new AlterClientQuotasOptions().validateOnly(true)).all());
            calls.put("DescribeQuorum", admin.describeMetadataQuorum().quorumInfo());
            calls.put("ElectLeaders", admin.electLeaders(ElectionType.PREFERRED, Set.of(tp0)).partitions());
            calls.put("ListPartitionReassignments", admin.listPartitionReassignments().reassignments());
            calls.put("AlterPartitionReassignments", admin.alterPartitionReassignments(
                Map.of(tp0, Optional.of(new NewPartitionReassignment(List.of(1))))).all());
            calls.put("UpdateFeatures", admin.updateFeatures(
                Map.of("group.version", new FeatureUpdate((short) 1, FeatureUpdate.UpgradeType.UPGRADE)),
                new UpdateFeaturesOptions().validateOnly(true)).all());
            calls.put("DescribeBrokerConfigs", admin.describeConfigs(
                List.of(new ConfigResource(ConfigResource.Type.BROKER, "1"))).all());
            calls.put("ListConfigResources", admin.listConfigResources(
                Set.of(ConfigResource.Type.TOPIC), new ListConfigResourcesOptions()).all());
            calls.put("DescribeFeatures", admin.describeFeatures().featureMetadata());
            for (Map.Entry<String, KafkaFuture<?>> call : calls.entrySet()) {
                System.out.println("CALL " + label + " " + call.getKey() + " " + outcome(call.getValue()));
            }
        }
        System.out.println("DONE");
    }
}
