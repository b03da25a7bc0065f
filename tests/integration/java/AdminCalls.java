import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeReplicaLogDirsResult.ReplicaLogDirInfo;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.ListConfigResourcesOptions;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.RaftVoterEndpoint;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java admin client 4.3 against kafkatwist: features, the quorum, elections, reassignments,
 * log dir moves, config resources and client telemetry. Prints one line per fact, which the
 * Python test (tests/integration/test_admin_clients.py) checks.
 *
 * Arguments: bootstrap topic (everything but the log dirs), or bootstrap topic logDirA logDirB
 * (the log dir moves only: the file engine's).
 */
public final class AdminCalls {
    private AdminCalls() {}

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

    static void features(Admin admin, String label) throws Exception {
        FeatureMetadata meta = admin.describeFeatures().featureMetadata().get();
        meta.finalizedFeatures().forEach((name, range) ->
            System.out.println("FINALIZED " + label + " " + name + " " + range.minVersionLevel() + " " + range.maxVersionLevel()));
        meta.supportedFeatures().forEach((name, range) ->
            System.out.println("SUPPORTED " + label + " " + name + " " + range.minVersion() + " " + range.maxVersion()));
        System.out.println("EPOCH " + label + " " + meta.finalizedFeaturesEpoch().orElse(-1L));
    }

    /** Moves the topic's partition 0 to the other log dir and back to a missing one (the file engine's). */
    static void logDirs(Admin admin, String topic, String dirA, String dirB) throws Exception {
        TopicPartitionReplica replica = new TopicPartitionReplica(topic, 0, 1);
        String current = admin.describeReplicaLogDirs(List.of(replica)).all().get().get(replica).getCurrentReplicaLogDir();
        String target = current.equals(dirA) ? dirB : dirA;
        System.out.println("MOVE " + outcome(admin.alterReplicaLogDirs(Map.of(replica, target)).all()));
        String now = current;
        for (int i = 0; i < 100 && !now.equals(target); i++) {
            Thread.sleep(100);
            ReplicaLogDirInfo info = admin.describeReplicaLogDirs(List.of(replica)).all().get().get(replica);
            now = info.getCurrentReplicaLogDir();
        }
        System.out.println("MOVED " + now.equals(target) + " " + !current.equals(target));
        System.out.println("MOVEBAD " + outcome(admin.alterReplicaLogDirs(
            Map.of(replica, "/no/such/dir")).all()));
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        if (args.length == 4) {
            try (Admin admin = Admin.create(props)) {
                logDirs(admin, topic, args[2], args[3]);
            }
            System.out.println("DONE");
            return;
        }
        try (Admin admin = Admin.create(props)) {
            // --- features
            features(admin, "before");
            System.out.println("UPDATE downgrade " + outcome(admin.updateFeatures(
                Map.of("group.version", new FeatureUpdate((short) 0, FeatureUpdate.UpgradeType.SAFE_DOWNGRADE)),
                new UpdateFeaturesOptions()).all()));
            features(admin, "downgraded");
            System.out.println("UPDATE upgrade " + outcome(admin.updateFeatures(
                Map.of("group.version", new FeatureUpdate((short) 1, FeatureUpdate.UpgradeType.UPGRADE)),
                new UpdateFeaturesOptions()).all()));
            System.out.println("UPDATE unsupported " + outcome(admin.updateFeatures(
                Map.of("transaction.version", new FeatureUpdate((short) 3, FeatureUpdate.UpgradeType.UPGRADE)),
                new UpdateFeaturesOptions()).all()));
            System.out.println("UPDATE validateonly " + outcome(admin.updateFeatures(
                Map.of("transaction.version", new FeatureUpdate((short) 0, FeatureUpdate.UpgradeType.SAFE_DOWNGRADE)),
                new UpdateFeaturesOptions().validateOnly(true)).all()));
            features(admin, "after");

            // --- the quorum
            QuorumInfo quorum = admin.describeMetadataQuorum().quorumInfo().get();
            System.out.println("QUORUM " + quorum.leaderId() + " " + quorum.leaderEpoch() + " " + quorum.highWatermark()
                + " " + quorum.voters().size() + " " + quorum.observers().size());
            for (QuorumInfo.ReplicaState voter : quorum.voters()) {
                System.out.println("VOTER " + voter.replicaId() + " " + !voter.replicaDirectoryId().equals(Uuid.ZERO_UUID)
                    + " " + voter.logEndOffset() + " " + voter.lastCaughtUpTimestamp().isPresent());
            }
            quorum.nodes().forEach((id, node) -> {
                for (RaftVoterEndpoint endpoint : node.endpoints()) {
                    System.out.println("NODE " + id + " " + endpoint.listener() + " " + endpoint.host() + " " + endpoint.port());
                }
            });

            // --- elections
            TopicPartition tp0 = new TopicPartition(topic, 0);
            TopicPartition tp1 = new TopicPartition(topic, 1);
            TopicPartition unknown = new TopicPartition("no-such-topic", 0);
            Map<TopicPartition, Optional<Throwable>> elected = admin.electLeaders(
                ElectionType.PREFERRED, new HashSet<>(Arrays.asList(tp0, unknown))).partitions().get();
            elected.forEach((tp, error) -> System.out.println("ELECT " + tp + " "
                + error.map(e -> e.getClass().getSimpleName()).orElse("OK")));
            Map<TopicPartition, Optional<Throwable>> all = admin.electLeaders(ElectionType.UNCLEAN, null).partitions().get();
            System.out.println("ELECTALL " + all.size());

            // --- reassignments
            Map<TopicPartition, Optional<NewPartitionReassignment>> reassign = Map.of(
                tp0, Optional.of(new NewPartitionReassignment(List.of(1))),
                tp1, Optional.of(new NewPartitionReassignment(List.of(1, 2))),
                unknown, Optional.empty());
            admin.alterPartitionReassignments(reassign).values().forEach((tp, f) -> {
                try {
                    System.out.println("REASSIGN " + tp + " " + outcome(f));
                } catch (InterruptedException e) {
                    throw new RuntimeException(e);
                }
            });
            System.out.println("CANCEL " + outcome(admin.alterPartitionReassignments(
                Map.of(tp0, Optional.empty())).all()));
            System.out.println("LISTREASSIGN " + admin.listPartitionReassignments().reassignments().get().size());

            // --- config resources and telemetry
            ConfigResource subscription = new ConfigResource(ConfigResource.Type.CLIENT_METRICS, "everything");
            Collection<AlterConfigOp> ops = List.of(
                new AlterConfigOp(new ConfigEntry("metrics", "*"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("interval.ms", "200"), AlterConfigOp.OpType.SET));
            System.out.println("SUBSCRIBE " + outcome(admin.incrementalAlterConfigs(Map.of(subscription, ops)).all()));
            Set<ConfigResource.Type> types = Set.of(ConfigResource.Type.CLIENT_METRICS, ConfigResource.Type.TOPIC);
            for (ConfigResource r : admin.listConfigResources(types, new ListConfigResourcesOptions()).all().get()) {
                System.out.println("RESOURCE " + r.type() + " " + r.name());
            }
            Properties producerProps = new Properties();
            producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
                for (int i = 0; i < 20; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, "k", "v" + i)).get();
                    Thread.sleep(100);
                }
                Uuid instance = producer.clientInstanceId(Duration.ofSeconds(10));
                System.out.println("INSTANCE " + instance);
            }
        }
        System.out.println("DONE");
    }
}
