// Populated sample values for any generated message and version, built from the exported schema metadata
// (protocol/messages/schemas.ts) rather than by hand, so that tests, fuzzing and benchmarks cover every field of
// every version and keep doing so when the definitions change.
//
// A sample puts a non-default value in every field that exists in the version (tagged fields included, so they
// are actually sent), the JSON default in every field that does not (which is what a decoder yields), and
// optionally nulls wherever the version allows them and unknown tagged fields in every flexible struct.

import { inVersions, type FieldSchema, type MessageSchema } from './message-schema.ts';
import { MESSAGE_SCHEMAS } from './messages/schemas.ts';
import type { TaggedField } from './tagged-field.ts';
import { ZERO_UUID, uuidFromKafkaString } from './uuid.ts';

export interface SampleOptions {
  /** Null in every field that is nullable in the version (default: values everywhere). */
  nulls?: boolean;
  /** The payload of every `records` field (default: a few distinct bytes per field). */
  records?: Buffer;
  /** Add two unknown tagged fields to every struct of a flexible version (default false). */
  unknownTags?: boolean;
  /** Elements per array (default 2). */
  arrayLength?: number;
}

/** A message or struct value: field name → value, as the generated interfaces define them. */
export type SampleValue = { [field: string]: unknown };

export function findSchema(name: string): MessageSchema {
  const s = MESSAGE_SCHEMAS.find((m) => m.name === name);
  if (!s) throw new Error(`no schema named ${name}`);
  return s;
}

/** Every version of the message's validVersions. */
export function versionsOf(schema: MessageSchema): number[] {
  const out: number[] = [];
  for (let v = schema.validVersions[0]; v <= schema.validVersions[1]; v++) out.push(v);
  return out;
}

export function sampleMessage(schema: MessageSchema, version: number, options: SampleOptions = {}): SampleValue {
  return new SampleBuilder(schema, version, options).struct(schema.fields);
}

/** The value every field takes when it is absent: what decoding an empty struct in that version yields. */
export function defaultMessage(schema: MessageSchema): SampleValue {
  return new SampleBuilder(schema, schema.validVersions[0], {}).defaultStruct(schema.fields);
}

// Values chosen to hit the edges of each wire type; a counter walks through them so neighbouring fields differ.
const INT_SAMPLES: Record<string, readonly number[]> = {
  int8: [-128, 127, -1, 7],
  int16: [-32768, 32767, -1, 1234],
  uint16: [65535, 0, 1, 40000],
  int32: [-2147483648, 2147483647, -1, 123456789],
  uint32: [4294967295, 0, 1, 3000000000],
};
const INT64_SAMPLES: readonly bigint[] = [-(2n ** 63n), 2n ** 63n - 1n, -1n, 1234567890123n];

class SampleBuilder {
  private readonly schema: MessageSchema;
  private readonly version: number;
  private readonly options: SampleOptions;
  private readonly flexible: boolean;
  private counter = 0;

  constructor(schema: MessageSchema, version: number, options: SampleOptions) {
    this.schema = schema;
    this.version = version;
    this.options = options;
    this.flexible = inVersions(schema.flexibleVersions, version);
  }

  private structFields(typeName: string, field: FieldSchema): readonly FieldSchema[] {
    if (field.fields) return field.fields;
    const common = this.schema.commonStructs.find((s) => s.name === typeName);
    if (!common) throw new Error(`${this.schema.name}: unknown struct ${typeName}`);
    return common.fields;
  }

  struct(fields: readonly FieldSchema[]): SampleValue {
    const out: SampleValue = {};
    for (const f of fields) {
      out[f.name] = inVersions(f.versions, this.version) ? this.value(f) : this.defaultOf(f);
    }
    if (this.flexible && this.options.unknownTags) {
      const known = new Set(fields.filter((f) => f.tag !== undefined).map((f) => f.tag));
      let free = 0;
      while (known.has(free)) free++;
      // The lowest free tag lands between known ones when it can, which exercises the merge by tag order.
      const unknown: TaggedField[] = [
        { tag: free, data: Buffer.from([0xca, 0xfe, this.counter & 0xff]) },
        { tag: 300, data: Buffer.alloc(0) },
      ];
      out['_unknownTaggedFields'] = unknown;
    }
    return out;
  }

  defaultStruct(fields: readonly FieldSchema[]): SampleValue {
    const out: SampleValue = {};
    for (const f of fields) out[f.name] = this.defaultOf(f);
    return out;
  }

  private value(f: FieldSchema): unknown {
    if (this.options.nulls && inVersions(f.nullableVersions, this.version)) return null;
    const n = this.counter++;
    const isTagged = f.tag !== undefined && inVersions(f.taggedVersions, this.version);
    const v = this.valueOfType(f.type, f, n);
    // A tagged field equal to its default is not sent, and a test would then not cover it (empty arrays excepted:
    // asking for them is deliberate).
    if (isTagged && this.options.arrayLength !== 0 && sameValue(v, this.defaultOf(f))) {
      throw new Error(`${f.name}: sample equals default`);
    }
    return v;
  }

  private valueOfType(type: string, f: FieldSchema, n: number): unknown {
    if (type.startsWith('[]')) {
      const element = type.slice(2);
      const len = this.options.arrayLength ?? 2;
      const out: unknown[] = [];
      for (let i = 0; i < len; i++) out.push(this.valueOfType(element, f, n + i));
      return out;
    }
    const ints = INT_SAMPLES[type];
    if (ints) {
      let x = ints[n % ints.length];
      if (f.default !== undefined && String(x) === f.default) x = ints[(n + 1) % ints.length];
      return x;
    }
    switch (type) {
      case 'int64': {
        let x = INT64_SAMPLES[n % INT64_SAMPLES.length];
        if (f.default !== undefined && f.default === String(x)) x = INT64_SAMPLES[(n + 1) % INT64_SAMPLES.length];
        return x;
      }
      case 'float64':
        return n % 2 === 0 ? -1.5e300 : 0.1;
      case 'bool':
        return f.default !== 'true';
      case 'string':
        return `${f.name}-${n}-é✓`;
      case 'uuid': {
        const hex = (n + 1).toString(16).padStart(12, '0');
        return `0123abcd-4567-89ef-fedc-${hex}`;
      }
      case 'bytes':
        return Buffer.from(`bytes-${n}`);
      case 'records':
        return this.options.records ?? Buffer.from(`records-${n}`);
      default:
        return this.struct(this.structFields(type, f));
    }
  }

  defaultOf(f: FieldSchema): unknown {
    const d = f.default ?? '';
    if (f.type.startsWith('[]')) return d === 'null' ? null : [];
    switch (f.type) {
      case 'bool':
        return d === 'true';
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32':
        return d === '' ? 0 : Number(d);
      case 'int64':
        return d === '' ? 0n : BigInt(d);
      case 'float64':
        return d === '' ? 0 : Number(d);
      case 'string':
        return d === 'null' ? null : d;
      case 'uuid':
        return d === '' ? ZERO_UUID : uuidFromKafkaString(d);
      case 'bytes':
        return d === 'null' ? null : Buffer.alloc(0);
      case 'records':
        return null;
      default:
        return this.defaultStruct(this.structFields(f.type, f));
    }
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === 0 && b.length === 0;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) return false;
  return a === b;
}
