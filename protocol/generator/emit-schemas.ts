// Emits protocol/messages/schemas.ts: the definitions as data (see protocol/message-schema.ts).

import type { FieldSpec, MessageSpec } from './schema.ts';
import { generatedHeader } from './emit-message.ts';
import { isEmpty, type VersionRange } from './versions.ts';

function span(r: VersionRange): string {
  return `[${r.min}, ${r.max}]`;
}

function str(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function emitFields(fields: readonly FieldSpec[], pad: string): string[] {
  const out: string[] = [];
  for (const f of fields) {
    const parts = [`name: ${str(f.name)}`, `type: ${str(f.typeString)}`, `versions: ${span(f.versions)}`];
    if (!isEmpty(f.nullableVersions)) parts.push(`nullableVersions: ${span(f.nullableVersions)}`);
    if (f.tag !== null) parts.push(`taggedVersions: ${span(f.taggedVersions)}`, `tag: ${f.tag}`);
    if (f.default !== '') parts.push(`default: ${str(f.default)}`);
    if (f.ignorable) parts.push('ignorable: true');
    if (f.entityType !== null) parts.push(`entityType: ${str(f.entityType)}`);
    if (f.flexibleVersions !== null) {
      parts.push(`flexibleVersions: ${isEmpty(f.flexibleVersions) ? 'null' : span(f.flexibleVersions)}`);
    }
    if (f.fields === null) {
      out.push(`${pad}{ ${parts.join(', ')} },`);
    } else {
      out.push(`${pad}{`, `${pad}  ${parts.join(', ')},`, `${pad}  fields: [`);
      out.push(...emitFields(f.fields, `${pad}    `));
      out.push(`${pad}  ],`, `${pad}},`);
    }
  }
  return out;
}

export function emitSchemas(messages: readonly MessageSpec[]): string {
  const out = [
    generatedHeader(`${messages.length} definitions`),
    '',
    "import type { MessageSchema } from '../message-schema.ts';",
    '',
    '/** Every generated message (requests, responses and headers), in definition-file order. */',
    'export const MESSAGE_SCHEMAS: readonly MessageSchema[] = [',
  ];
  for (const m of messages) {
    out.push('  {');
    out.push(`    name: ${str(m.name)},`);
    out.push(`    file: ${str(m.file)},`);
    out.push(`    type: ${str(m.type)},`);
    out.push(`    apiKey: ${m.apiKey === null ? 'null' : m.apiKey},`);
    out.push(`    validVersions: ${span(m.validVersions)},`);
    out.push(`    flexibleVersions: ${isEmpty(m.flexibleVersions) ? 'null' : span(m.flexibleVersions)},`);
    out.push(`    latestVersionUnstable: ${m.latestVersionUnstable},`);
    out.push('    fields: [', ...emitFields(m.fields, '      '), '    ],');
    const common = m.structs.filter((s) => s.common);
    if (common.length === 0) {
      out.push('    commonStructs: [],');
    } else {
      out.push('    commonStructs: [');
      for (const s of common) {
        out.push(`      {`, `        name: ${str(s.name)},`, `        versions: ${span(s.versions)},`, '        fields: [');
        out.push(...emitFields(s.fields, '          '), '        ],', '      },');
      }
      out.push('    ],');
    }
    out.push('  },');
  }
  out.push('];', '');
  return out.join('\n');
}
