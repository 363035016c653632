// A tiny Java producer for kmp integration tests. ConsoleProducer cannot report which records were acknowledged,
// so this one prints one line per delivery callback, which test/support/java-client.ts parses.
//
// Usage: java -cp <classes>:<kafka libs>/* KmpTestProducer <bootstrap> <topic> [key=value producer props...]
// stdin:  one record per line: "<key> <value> [<topic>]", key and value base64 (standard alphabet) or "-" for
//         null; the optional third field (plain text) sends that record to another topic in the same session.
// stdout: "ACK <index> <partition> <offset>" or "ERR <index> <exception class>: <message>" per record, then
//         "DONE <acked> <failed>". Exit code 0 when every record was acknowledged, 1 otherwise, 2 on bad usage.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class KmpTestProducer {
    private static byte[] decode(String field) {
        return field.equals("-") ? null : Base64.getDecoder().decode(field);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: KmpTestProducer <bootstrap> <topic> [key=value ...]");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "kmp-test-java");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("bad property (want key=value): " + args[i]);
                System.exit(2);
            }
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        String topic = args[1];
        // Callbacks run on the producer's I/O thread; one synchronized stream keeps lines whole.
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        AtomicInteger acked = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            int index = 0;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) continue;
                String[] parts = line.split(" ", 3);
                final int recordIndex = index++;
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(parts.length > 2 ? parts[2] : topic, decode(parts[0]), decode(parts[1]));
                try {
                    producer.send(record, (metadata, exception) -> {
                        if (exception == null) {
                            acked.incrementAndGet();
                            synchronized (out) { out.println("ACK " + recordIndex + " " + metadata.partition() + " " + metadata.offset()); }
                        } else {
                            failed.incrementAndGet();
                            synchronized (out) { out.println("ERR " + recordIndex + " " + oneLine(exception)); }
                        }
                    });
                } catch (Exception e) {
                    // send() itself throws for e.g. a record that is too large or a closed/fatal producer.
                    failed.incrementAndGet();
                    synchronized (out) { out.println("ERR " + recordIndex + " " + oneLine(e)); }
                }
            }
            producer.flush();
        }
        synchronized (out) { out.println("DONE " + acked.get() + " " + failed.get()); }
        System.exit(failed.get() == 0 ? 0 : 1);
    }

    private static String oneLine(Throwable t) {
        return (t.getClass().getName() + ": " + t.getMessage()).replace('\n', ' ');
    }
}
