// The shape of the schema metadata that the generator exports in protocol/messages/schemas.ts: Kafka's message
// definitions minus documentation, with field names already in lowerCamelCase. Tools and tests use it to walk
// messages generically (e.g. to build sample values, or to find every field with entityType "brokerId").

/** Inclusive [min, max]; max is MAX_VERSION for open-ended ranges ("3+"). */
export type VersionSpan = readonly [min: number, max: number];

export const MAX_VERSION = 0x7fff;

export interface FieldSchema {
  /** lowerCamelCase, as in the generated interfaces. */
  readonly name: string;
  /** The JSON type: a primitive ('int32', 'string', 'records', ...), a struct name, or '[]' + either. */
  readonly type: string;
  readonly versions: VersionSpan;
  readonly nullableVersions?: VersionSpan;
  readonly taggedVersions?: VersionSpan;
  readonly tag?: number;
  /** The JSON default text ('-1', 'null', 'false', ...), absent when the type's zero value applies. */
  readonly default?: string;
  readonly ignorable?: boolean;
  readonly entityType?: string;
  /** Per-field flexibleVersions override; null means "none" (never compact). */
  readonly flexibleVersions?: VersionSpan | null;
  /** Inline struct fields, for struct and struct-array fields that define their struct here. */
  readonly fields?: readonly FieldSchema[];
}

export interface StructSchema {
  readonly name: string;
  readonly versions: VersionSpan;
  readonly fields: readonly FieldSchema[];
}

export interface MessageSchema {
  readonly name: string;
  /** The definition file it was generated from. */
  readonly file: string;
  readonly type: 'request' | 'response' | 'header' | 'data';
  readonly apiKey: number | null;
  readonly validVersions: VersionSpan;
  readonly flexibleVersions: VersionSpan | null;
  readonly latestVersionUnstable: boolean;
  readonly fields: readonly FieldSchema[];
  /** The file's commonStructs. */
  readonly commonStructs: readonly StructSchema[];
}

export function inVersions(span: VersionSpan | null | undefined, version: number): boolean {
  return span !== null && span !== undefined && version >= span[0] && version <= span[1];
}
