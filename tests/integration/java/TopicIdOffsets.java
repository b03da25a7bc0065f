// Kafka 4.3's own request and response classes (kafka-clients 4.3) at the versions no classic
// client sends yet: OffsetCommit v10 and OffsetFetch v10 (topics by id, KIP-848; Kafka's
// consumer sends them only with group.protocol=consumer), with Metadata v13 to learn the topic id
// and DescribeGroups v6 (GROUP_ID_NOT_FOUND, KIP-1043). Each request is built and serialized by
// Kafka's classes, sent on one socket, and each response parsed by them.
//
//   java -cp CLASSES:JARS TopicIdOffsets HOST PORT TOPIC GROUP
//
// TOPIC must exist with 2 partitions. Prints
//   METADATA <error> <topic error> <topic id>
//   COMMIT <known|unknown> <partition> <error>
//   FETCH <known|unknown> <partition> <offset> <metadata> <error>
//   DESCRIBE <group> <error> <message with spaces as _>
// then DONE.

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.message.DescribeGroupsRequestData;
import org.apache.kafka.common.message.DescribeGroupsResponseData;
import org.apache.kafka.common.message.MetadataRequestData;
import org.apache.kafka.common.message.MetadataResponseData;
import org.apache.kafka.common.message.OffsetCommitRequestData;
import org.apache.kafka.common.message.OffsetCommitResponseData;
import org.apache.kafka.common.message.OffsetFetchRequestData;
import org.apache.kafka.common.message.OffsetFetchResponseData;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.requests.AbstractRequest;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.DescribeGroupsRequest;
import org.apache.kafka.common.requests.DescribeGroupsResponse;
import org.apache.kafka.common.requests.MetadataRequest;
import org.apache.kafka.common.requests.MetadataResponse;
import org.apache.kafka.common.requests.OffsetCommitRequest;
import org.apache.kafka.common.requests.OffsetCommitResponse;
import org.apache.kafka.common.requests.OffsetFetchRequest;
import org.apache.kafka.common.requests.OffsetFetchResponse;
import org.apache.kafka.common.requests.RequestHeader;

public class TopicIdOffsets {
    static int correlation = 0;

    static AbstractResponse call(DataOutputStream out, DataInputStream in, AbstractRequest request)
            throws Exception {
        RequestHeader header = new RequestHeader(request.apiKey(), request.version(), "raw-java", ++correlation);
        ByteBuffer frame = request.serializeWithHeader(header);
        out.writeInt(frame.remaining());
        out.write(frame.array(), frame.arrayOffset() + frame.position(), frame.remaining());
        out.flush();
        byte[] body = new byte[in.readInt()];
        in.readFully(body);
        return AbstractResponse.parseResponse(ByteBuffer.wrap(body), header);
    }

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String topic = args[2];
        String group = args[3];
        Uuid unknown = Uuid.randomUuid();
        try (Socket socket = new Socket(host, port)) {
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            DataInputStream in = new DataInputStream(socket.getInputStream());

            MetadataRequestData metadata = new MetadataRequestData().setAllowAutoTopicCreation(false);
            metadata.topics().add(new MetadataRequestData.MetadataRequestTopic().setName(topic));
            MetadataResponse described = (MetadataResponse) call(
                out, in, new MetadataRequest.Builder(metadata).build((short) 13));
            MetadataResponseData.MetadataResponseTopic found = described.data().topics().find(topic);
            Uuid topicId = found.topicId();
            System.out.println("METADATA " + described.data().errorCode() + " " + found.errorCode() + " " + topicId);

            OffsetCommitRequestData commit = new OffsetCommitRequestData()
                .setGroupId(group)
                .setGenerationIdOrMemberEpoch(-1)
                .setMemberId("");
            commit.topics().add(new OffsetCommitRequestData.OffsetCommitRequestTopic()
                .setTopicId(topicId)
                .setPartitions(List.of(
                    new OffsetCommitRequestData.OffsetCommitRequestPartition()
                        .setPartitionIndex(0).setCommittedOffset(3).setCommittedMetadata("m0"),
                    new OffsetCommitRequestData.OffsetCommitRequestPartition()
                        .setPartitionIndex(1).setCommittedOffset(1).setCommittedMetadata(""))));
            commit.topics().add(new OffsetCommitRequestData.OffsetCommitRequestTopic()
                .setTopicId(unknown)
                .setPartitions(List.of(new OffsetCommitRequestData.OffsetCommitRequestPartition()
                    .setPartitionIndex(0).setCommittedOffset(5))));
            OffsetCommitResponse committed = (OffsetCommitResponse) call(
                out, in, OffsetCommitRequest.Builder.forTopicIdsOrNames(commit).build((short) 10));
            for (OffsetCommitResponseData.OffsetCommitResponseTopic t : committed.data().topics()) {
                String which = t.topicId().equals(topicId) ? "known" : t.topicId().equals(unknown) ? "unknown" : "other";
                for (OffsetCommitResponseData.OffsetCommitResponsePartition p : t.partitions()) {
                    System.out.println("COMMIT " + which + " " + p.partitionIndex() + " " + p.errorCode());
                }
            }

            OffsetFetchRequestData fetch = new OffsetFetchRequestData().setRequireStable(true);
            fetch.groups().add(new OffsetFetchRequestData.OffsetFetchRequestGroup()
                .setGroupId(group)
                .setTopics(List.of(
                    new OffsetFetchRequestData.OffsetFetchRequestTopics()
                        .setTopicId(topicId).setPartitionIndexes(List.of(0, 1)),
                    new OffsetFetchRequestData.OffsetFetchRequestTopics()
                        .setTopicId(unknown).setPartitionIndexes(List.of(0)))));
            OffsetFetchResponse fetched = (OffsetFetchResponse) call(
                out, in, OffsetFetchRequest.Builder.forTopicIdsOrNames(fetch, true).build((short) 10));
            for (OffsetFetchResponseData.OffsetFetchResponseGroup g : fetched.data().groups()) {
                for (OffsetFetchResponseData.OffsetFetchResponseTopics t : g.topics()) {
                    String which = t.topicId().equals(topicId) ? "known" : t.topicId().equals(unknown) ? "unknown" : "other";
                    for (OffsetFetchResponseData.OffsetFetchResponsePartitions p : t.partitions()) {
                        String meta = p.metadata() == null || p.metadata().isEmpty() ? "-" : p.metadata();
                        System.out.println("FETCH " + which + " " + p.partitionIndex() + " "
                            + p.committedOffset() + " " + meta + " " + p.errorCode());
                    }
                }
            }

            DescribeGroupsRequestData describe = new DescribeGroupsRequestData()
                .setGroups(List.of(group, "no-such-group"));
            DescribeGroupsResponse groups = (DescribeGroupsResponse) call(
                out, in, new DescribeGroupsRequest.Builder(describe).build((short) 6));
            for (DescribeGroupsResponseData.DescribedGroup g : groups.data().groups()) {
                String message = g.errorMessage() == null ? "-" : g.errorMessage().replace(' ', '_');
                System.out.println("DESCRIBE " + g.groupId() + " " + g.errorCode() + " " + message);
            }
        }
        System.out.println("DONE");
    }
}
