// From a folder of definitions to the set of generated files (name → content), in memory, so that the CLI can
// either write them or compare them with what is committed (--check).

import { emitIndex } from './emit-index.ts';
import { emitMessage, messageFileName } from './emit-message.ts';
import { emitSchemas } from './emit-schemas.ts';
import { loadDefinitions, type MessageSpec } from './schema.ts';

export { GENERATED_MARKER } from './emit-message.ts';

/** The messages we generate: requests, responses and the two headers (data/record types are out of scope). */
function selected(messages: readonly MessageSpec[]): MessageSpec[] {
  return messages.filter((m) => m.type === 'request' || m.type === 'response' || m.type === 'header');
}

export function generateFiles(defsDir: string): Map<string, string> {
  const messages = selected(loadDefinitions(defsDir));
  if (messages.length === 0) throw new Error(`no message definitions in ${defsDir}`);
  const files = new Map<string, string>();
  for (const m of messages) {
    const name = messageFileName(m);
    if (files.has(name)) throw new Error(`two definitions map to ${name}`);
    files.set(name, emitMessage(m));
  }
  files.set('index.ts', emitIndex(messages));
  files.set('schemas.ts', emitSchemas(messages));
  return files;
}
