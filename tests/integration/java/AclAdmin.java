// The official Java admin (kafka-clients 4.3) managing ACLs, as kafka-acls.sh does.
//
//   java -cp CLASSES:JARS AclAdmin HOST:PORT manage
//   java -cp CLASSES:JARS AclAdmin HOST:PORT denied
//
// "manage" creates three ACLs, describes them all and with a MATCH filter, tries an ACL on a
// CLUSTER resource not named kafka-cluster (printing ERROR <exception class> <message>),
// deletes the topic ACLs and describes again. "denied" tries CreateAcls and DescribeAcls,
// printing ERROR <exception class> for each. Each ACL prints as
//   ACL <resourceType> <patternType> <name> <principal> <host> <operation> <permission>
// sorted; each description ends with END. Exits non-zero on any other error.

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

public class AclAdmin {
    static AclBinding acl(ResourceType type, PatternType pattern, String name, String principal,
                          AclOperation op, AclPermissionType permission) {
        return new AclBinding(new ResourcePattern(type, name, pattern),
            new AccessControlEntry(principal, "*", op, permission));
    }

    static String line(AclBinding b) {
        return "ACL " + b.pattern().resourceType() + " " + b.pattern().patternType() + " "
            + b.pattern().name() + " " + b.entry().principal() + " " + b.entry().host() + " "
            + b.entry().operation() + " " + b.entry().permissionType();
    }

    static void print(Collection<AclBinding> bindings) {
        List<String> lines = new ArrayList<>();
        for (AclBinding b : bindings) {
            lines.add(line(b));
        }
        Collections.sort(lines);
        lines.forEach(System.out::println);
        System.out.println("END");
    }

    static void error(ExecutionException e) {
        Throwable cause = e.getCause();
        System.out.println("ERROR " + cause.getClass().getSimpleName() + " " + cause.getMessage());
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        try (Admin admin = Admin.create(props)) {
            if (args[1].equals("manage")) {
                admin.createAcls(List.of(
                    acl(ResourceType.TOPIC, PatternType.LITERAL, "orders", "User:alice",
                        AclOperation.READ, AclPermissionType.ALLOW),
                    acl(ResourceType.TOPIC, PatternType.PREFIXED, "pay-", "User:*",
                        AclOperation.WRITE, AclPermissionType.ALLOW),
                    acl(ResourceType.GROUP, PatternType.LITERAL, "app", "User:bob",
                        AclOperation.ALL, AclPermissionType.DENY))).all().get();
                print(admin.describeAcls(AclBindingFilter.ANY).values().get());
                print(admin.describeAcls(new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.TOPIC, "pay-1", PatternType.MATCH),
                    AccessControlEntryFilter.ANY)).values().get());
                try {
                    admin.createAcls(List.of(acl(ResourceType.CLUSTER, PatternType.LITERAL, "x",
                        "User:alice", AclOperation.ALTER, AclPermissionType.ALLOW))).all().get();
                } catch (ExecutionException e) {
                    error(e);
                }
                Collection<AclBinding> deleted = admin.deleteAcls(List.of(new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.TOPIC, null, PatternType.ANY),
                    AccessControlEntryFilter.ANY))).all().get();
                System.out.println("DELETED " + deleted.size());
                print(admin.describeAcls(AclBindingFilter.ANY).values().get());
            } else {
                try {
                    admin.createAcls(List.of(acl(ResourceType.TOPIC, PatternType.LITERAL, "t",
                        "User:alice", AclOperation.READ, AclPermissionType.ALLOW))).all().get();
                } catch (ExecutionException e) {
                    System.out.println("ERROR " + e.getCause().getClass().getSimpleName());
                }
                try {
                    admin.describeAcls(AclBindingFilter.ANY).values().get();
                } catch (ExecutionException e) {
                    System.out.println("ERROR " + e.getCause().getClass().getSimpleName());
                }
            }
        }
    }
}
