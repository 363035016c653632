// `npm run kafka:install`: fetch the Kafka jars with Maven into .cache/ (skipped when present).
import { installKafka, LIBS_DIR } from './testbed.ts';

installKafka();
console.log(`Kafka jars ready in ${LIBS_DIR}`);
