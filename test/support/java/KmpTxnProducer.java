// A transactional Java producer (Apache Kafka client) driven by a script on stdin, for kmp's transaction tests.
// Usage: java KmpTxnProducer <bootstrap> <transactional.id> [key=value producer properties...]
// Script lines:
//   LOOP <count> <topic,topic,...> <recordsPerTopic> <abortEvery> <pauseMs>
//       runs <count> transactions; transaction i writes <recordsPerTopic> records to each topic with value
//       "<txnId>|<i>|<j>" (key "k<j>") and aborts when (i + 1) % abortEvery == 0 (0: never).
//   ONE <label> <commit|abort> <topic>:<key>:<value> ...   one transaction
//   OPEN <label> <topic>:<key>:<value> ...                  begins, sends, flushes, leaves the transaction open
//   MORE <label> <topic>:<key>:<value> ...                  sends more in the open transaction (SENT <label>)
//   END <label> <commit|abort>                              ends the open transaction
//   SLEEP <ms>
//   STOP                                                    ends a running LOOP after its current transaction
//   CTP <group> <inputTopic> <outputTopic> <records>        consume-transform-produce with sendOffsetsToTransaction
// Output lines: COMMITTED <label> | ABORTED <label> | FAILED <label> <exception class>: <message> |
//   RECOVERED <label> (abortTransaction() after an abortable error) | FATAL <label> <exception> (then exits 3)
//   | READY (after initTransactions).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.errors.InvalidPidMappingException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class KmpTxnProducer {
  static KafkaProducer<String, String> producer;
  static String bootstrap;
  static volatile boolean stopRequested = false;
  static final java.util.concurrent.LinkedBlockingQueue<String> lines = new java.util.concurrent.LinkedBlockingQueue<>();
  static final String EOF_LINE = "\u0000EOF";

  public static void main(String[] args) throws Exception {
    bootstrap = args[0];
    Properties props = new Properties();
    props.put("bootstrap.servers", bootstrap);
    props.put("transactional.id", args[1]);
    props.put("client.id", "kmp-test-java-txn");
    props.put("key.serializer", StringSerializer.class.getName());
    props.put("value.serializer", StringSerializer.class.getName());
    props.put("linger.ms", "5");
    for (int i = 2; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    producer = new KafkaProducer<>(props);
    producer.initTransactions();
    System.out.println("READY");
    System.out.flush();
    // Lines are read on their own thread so that STOP reaches a LOOP that is running.
    Thread reader = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
        String l;
        while ((l = in.readLine()) != null) {
          if (l.trim().equals("STOP")) stopRequested = true;
          else lines.put(l);
        }
      } catch (Exception ignored) {
        // stdin closed
      }
      lines.add(EOF_LINE);
    });
    reader.setDaemon(true);
    reader.start();
    String line;
    while (!(line = lines.take()).equals(EOF_LINE)) {
      String[] w = line.trim().split("\\s+");
      if (w.length == 0 || w[0].isEmpty()) continue;
      switch (w[0]) {
        case "SLEEP" -> Thread.sleep(Long.parseLong(w[1]));
        case "LOOP" -> loop(Integer.parseInt(w[1]), w[2].split(","), Integer.parseInt(w[3]), Integer.parseInt(w[4]), Long.parseLong(w[5]), args[1]);
        case "ONE" -> one(w[1], w[2].equals("commit"), java.util.Arrays.copyOfRange(w, 3, w.length));
        case "OPEN" -> open(w[1], java.util.Arrays.copyOfRange(w, 2, w.length));
        case "MORE" -> more(w[1], java.util.Arrays.copyOfRange(w, 2, w.length));
        case "END" -> end(w[1], w[2].equals("commit"));
        case "CTP" -> ctp(w[1], w[2], w[3], Integer.parseInt(w[4]));
        default -> System.out.println("UNKNOWN " + line);
      }
      System.out.flush();
    }
    producer.close(Duration.ofSeconds(10));
  }

  static boolean isFatal(Exception e) {
    return e instanceof ProducerFencedException || e instanceof OutOfOrderSequenceException || e instanceof AuthorizationException
        || e instanceof UnsupportedVersionException || e instanceof InvalidPidMappingException
        || (e instanceof IllegalStateException);
  }

  static void failed(String label, Exception e) {
    Throwable c = e.getCause() != null && e instanceof KafkaException && e.getClass() == KafkaException.class ? e.getCause() : e;
    System.out.println("FAILED " + label + " " + c.getClass().getSimpleName() + ": " + String.valueOf(c.getMessage()).replace('\n', ' '));
    if (isFatal(e)) {
      System.out.println("FATAL " + label + " " + e.getClass().getSimpleName());
      System.out.flush();
      System.exit(3);
    }
    try {
      producer.abortTransaction();
      System.out.println("RECOVERED " + label);
    } catch (Exception abortFailure) {
      System.out.println("FATAL " + label + " abortTransaction: " + abortFailure);
      System.out.flush();
      System.exit(3);
    }
  }

  static void sendAll(String[] specs) throws Exception {
    List<java.util.concurrent.Future<?>> futures = new java.util.ArrayList<>();
    for (String s : specs) {
      String[] p = s.split(":", 3);
      futures.add(producer.send(new ProducerRecord<>(p[0], p[1], p[2])));
    }
    producer.flush();
    for (java.util.concurrent.Future<?> f : futures) f.get();
  }

  static void one(String label, boolean commit, String[] specs) {
    try {
      producer.beginTransaction();
      sendAll(specs);
      if (commit) producer.commitTransaction(); else producer.abortTransaction();
      System.out.println((commit ? "COMMITTED " : "ABORTED ") + label);
    } catch (Exception e) {
      failed(label, e);
    }
  }

  static void open(String label, String[] specs) {
    try {
      producer.beginTransaction();
      sendAll(specs);
      System.out.println("OPENED " + label);
    } catch (Exception e) {
      failed(label, e);
    }
  }

  static void more(String label, String[] specs) {
    try {
      sendAll(specs);
      System.out.println("SENT " + label);
    } catch (Exception e) {
      failed(label, e);
    }
  }

  static void end(String label, boolean commit) {
    try {
      if (commit) producer.commitTransaction(); else producer.abortTransaction();
      System.out.println((commit ? "COMMITTED " : "ABORTED ") + label);
    } catch (Exception e) {
      failed(label, e);
    }
  }

  static void loop(int count, String[] topics, int perTopic, int abortEvery, long pauseMs, String id) throws InterruptedException {
    for (int i = 0; i < count && !stopRequested; i++) {
      String label = id + "|" + i;
      boolean commit = abortEvery == 0 || (i + 1) % abortEvery != 0;
      String[] specs = new String[topics.length * perTopic];
      int n = 0;
      for (String t : topics) for (int j = 0; j < perTopic; j++) specs[n++] = t + ":k" + j + ":" + label + "|" + j;
      one(label, commit, specs);
      System.out.flush();
      if (pauseMs > 0) Thread.sleep(pauseMs);
    }
  }

  static void ctp(String group, String input, String output, int records) {
    Properties c = new Properties();
    c.put("bootstrap.servers", System.getProperty("kmp.consumer.bootstrap", bootstrap));
    c.put("group.id", group);
    c.put("enable.auto.commit", "false");
    c.put("auto.offset.reset", "earliest");
    c.put("isolation.level", "read_committed");
    c.put("key.deserializer", StringDeserializer.class.getName());
    c.put("value.deserializer", StringDeserializer.class.getName());
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
      consumer.subscribe(List.of(input));
      int done = 0;
      long deadline = System.currentTimeMillis() + 30_000;
      while (done < records && System.currentTimeMillis() < deadline) {
        ConsumerRecords<String, String> polled = consumer.poll(Duration.ofMillis(200));
        if (polled.isEmpty()) continue;
        String label = "ctp|" + done;
        try {
          producer.beginTransaction();
          Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
          for (ConsumerRecord<String, String> r : polled) {
            producer.send(new ProducerRecord<>(output, r.key(), "out:" + r.value()));
            offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
            done++;
          }
          producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
          producer.commitTransaction();
          System.out.println("COMMITTED " + label);
        } catch (Exception e) {
          failed(label, e);
        }
        System.out.flush();
      }
    }
  }
}
