// `npm run registry:install`: fetch and unpack Apicurio Registry with Maven into .cache/registry/ (skipped when present).
import { installRegistry, REGISTRY_DIR } from './testbed.ts';

installRegistry();
console.log(`Apicurio Registry ready in ${REGISTRY_DIR}`);
