// Prints Kafka's error table as JSON, straight from a kafka-clients jar, so protocol/kafka-errors.ts can be checked
// against the real enum instead of documentation. One object per code: name, default message, the exception class
// and whether Java's client treats it as retriable (RetriableException) or as stale metadata (InvalidMetadataException).
//
//   java -cp .cache/kafka/4.3.1/libs/kafka-clients-4.3.1.jar:.cache/kafka/4.3.1/libs/slf4j-api-1.7.36.jar \
//     scripts/kafka/DumpErrors.java > test/fixtures/kafka-errors-4.3.1.json
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.errors.InvalidMetadataException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.protocol.Errors;

public class DumpErrors {
  static String quote(String s) {
    return s == null ? "null" : "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  public static void main(String[] args) {
    StringBuilder out = new StringBuilder("[\n");
    boolean first = true;
    for (Errors e : Errors.values()) {
      ApiException ex = e.exception();
      if (!first) out.append(",\n");
      first = false;
      out.append("{\"code\":").append(e.code()).append(",\"name\":").append(quote(e.name()))
        .append(",\"message\":").append(quote(e.message()))
        .append(",\"exception\":").append(quote(ex == null ? null : ex.getClass().getSimpleName()))
        .append(",\"retriable\":").append(ex instanceof RetriableException)
        .append(",\"invalidMetadata\":").append(ex instanceof InvalidMetadataException)
        .append("}");
    }
    System.out.println(out.append("\n]"));
  }
}
