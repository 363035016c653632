// Loads Kafka's message JSON definitions (clients/src/main/resources/common/message/*.json) into a checked model.
// The checks are the ones of Kafka's generator (FieldSpec.java, StructRegistry.java) that our code relies on, so a
// definition the generator cannot handle fails at generation time instead of producing a wrong codec.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  MAX_VERSION,
  NO_VERSIONS,
  intersect,
  isEmpty,
  isSubset,
  parseVersions,
  sameRange,
  type VersionRange,
} from './versions.ts';

export const PRIMITIVE_TYPES = [
  'bool',
  'int8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'float64',
  'string',
  'uuid',
  'bytes',
  'records',
] as const;
export type PrimitiveName = (typeof PRIMITIVE_TYPES)[number];

export type FieldType =
  | { readonly kind: 'primitive'; readonly name: PrimitiveName }
  | { readonly kind: 'struct'; readonly name: string }
  | { readonly kind: 'array'; readonly element: FieldType };

export interface FieldSpec {
  /** Name as in the JSON ("TopicData"). */
  readonly jsonName: string;
  /** lowerCamelCase name used in TypeScript ("topicData"). */
  readonly name: string;
  readonly typeString: string;
  readonly type: FieldType;
  readonly versions: VersionRange;
  readonly nullableVersions: VersionRange;
  readonly taggedVersions: VersionRange;
  readonly tag: number | null;
  /** The JSON `default`, '' when absent (Kafka's convention). */
  readonly default: string;
  readonly ignorable: boolean;
  readonly mapKey: boolean;
  readonly entityType: string | null;
  /** Per-field override of the message's flexibleVersions (only RequestHeader.ClientId uses it). */
  readonly flexibleVersions: VersionRange | null;
  readonly about: string;
  /** Inline struct definition for struct and struct-array fields. */
  readonly fields: readonly FieldSpec[] | null;
}

export interface StructSpec {
  readonly name: string;
  readonly fields: readonly FieldSpec[];
  /** Versions in which the struct can appear (the defining field's versions, or a common struct's own). */
  readonly versions: VersionRange;
  readonly common: boolean;
}

export type MessageType = 'request' | 'response' | 'header' | 'data';

export interface MessageSpec {
  /** The definition's file name, e.g. "ProduceRequest.json". */
  readonly file: string;
  readonly name: string;
  readonly type: MessageType;
  readonly apiKey: number | null;
  readonly validVersions: VersionRange;
  readonly flexibleVersions: VersionRange;
  readonly latestVersionUnstable: boolean;
  readonly fields: readonly FieldSpec[];
  /** Every struct type of the message (inline and common), in definition order. */
  readonly structs: readonly StructSpec[];
  readonly structsByName: ReadonlyMap<string, StructSpec>;
}

/**
 * Removes `//` comments (Kafka's files hold their version history in them) without touching `//` inside strings
 * (URLs in `about` texts).
 */
export function stripJsonComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close < 0 ? text.length : close + 1;
    } else {
      out += c;
    }
  }
  return out;
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(j: Json | undefined): j is JsonObject {
  return typeof j === 'object' && j !== null && !Array.isArray(j);
}

function optString(o: JsonObject, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new Error(`${where}: "${key}" must be a string`);
  return v;
}

function optBool(o: JsonObject, key: string, where: string): boolean {
  const v = o[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new Error(`${where}: "${key}" must be a boolean`);
  return v;
}

function parseType(text: string, where: string): FieldType {
  if (text.startsWith('[]')) {
    const element = parseType(text.slice(2), where);
    if (element.kind === 'array') throw new Error(`${where}: nested arrays are not supported`);
    if (element.kind === 'primitive' && element.name === 'records') {
      throw new Error(`${where}: arrays of records are not supported`);
    }
    return { kind: 'array', element };
  }
  if ((PRIMITIVE_TYPES as readonly string[]).includes(text)) return { kind: 'primitive', name: text as PrimitiveName };
  if (!/^[A-Z][A-Za-z0-9]*$/.test(text)) throw new Error(`${where}: unknown type "${text}"`);
  return { kind: 'struct', name: text };
}

export function lowerCamel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function parseField(o: Json, where: string): FieldSpec {
  if (!isObject(o)) throw new Error(`${where}: field must be an object`);
  const jsonName = optString(o, 'name', where);
  if (jsonName === undefined || !/^[A-Za-z][A-Za-z0-9]*$/.test(jsonName)) {
    throw new Error(`${where}: invalid field name ${String(jsonName)}`);
  }
  const at = `${where}.${jsonName}`;
  const typeString = optString(o, 'type', at);
  if (typeString === undefined) throw new Error(`${at}: missing type`);
  const type = parseType(typeString, at);
  const taggedVersions = parseVersions(optString(o, 'taggedVersions', at), NO_VERSIONS);
  const versionsText = optString(o, 'versions', at);
  if (versionsText === undefined && isEmpty(taggedVersions)) throw new Error(`${at}: missing versions`);
  const versions = parseVersions(versionsText, taggedVersions);
  const nullableVersions = parseVersions(optString(o, 'nullableVersions', at), NO_VERSIONS);
  const tagValue = o['tag'];
  let tag: number | null = null;
  if (tagValue !== undefined) {
    if (typeof tagValue !== 'number' || !Number.isInteger(tagValue) || tagValue < 0) {
      throw new Error(`${at}: tag must be a non-negative integer`);
    }
    tag = tagValue;
  }
  if ((tag === null) !== isEmpty(taggedVersions)) throw new Error(`${at}: tag and taggedVersions go together`);
  if (tag !== null) {
    if (taggedVersions.max !== MAX_VERSION) throw new Error(`${at}: taggedVersions must be open-ended`);
    if (!isSubset(taggedVersions, versions)) throw new Error(`${at}: taggedVersions must be a subset of versions`);
    const nullableTagged = intersect(nullableVersions, taggedVersions);
    if (!isEmpty(nullableTagged) && !sameRange(nullableTagged, taggedVersions)) {
      throw new Error(`${at}: either all or none of the tagged versions must be nullable`);
    }
  }
  if (!isEmpty(nullableVersions)) {
    const nullableType =
      type.kind === 'array' ||
      (type.kind === 'primitive' && ['string', 'bytes', 'records'].includes(type.name));
    // Kafka also allows nullable structs (an int8 presence marker); no definition here uses one, so rather than
    // carrying untested code the generator refuses them.
    if (!nullableType) throw new Error(`${at}: nullable ${typeString} fields are not supported`);
  }
  const flexText = optString(o, 'flexibleVersions', at);
  const flexibleVersions = flexText === undefined ? null : parseVersions(flexText, NO_VERSIONS);
  if (flexibleVersions !== null && !(type.kind === 'primitive' && (type.name === 'string' || type.name === 'bytes'))) {
    throw new Error(`${at}: a flexibleVersions override is only allowed on string and bytes fields`);
  }
  const rawDefault = o['default'];
  let dflt = '';
  if (rawDefault !== undefined) {
    if (typeof rawDefault === 'string') dflt = rawDefault;
    else if (typeof rawDefault === 'number' || typeof rawDefault === 'boolean') dflt = String(rawDefault);
    else throw new Error(`${at}: default must be a string`);
  }
  if (dflt === 'null' && !isSubset(versions, nullableVersions)) {
    throw new Error(`${at}: null cannot be the default unless every version is nullable`);
  }
  const rawFields = o['fields'];
  let fields: FieldSpec[] | null = null;
  if (rawFields !== undefined) {
    if (!Array.isArray(rawFields)) throw new Error(`${at}: fields must be an array`);
    const isStructish = type.kind === 'struct' || (type.kind === 'array' && type.element.kind === 'struct');
    if (!isStructish) throw new Error(`${at}: only struct and struct-array fields can have fields`);
    fields = rawFields.map((f) => parseField(f, at));
  }
  return {
    jsonName,
    name: lowerCamel(jsonName),
    typeString,
    type,
    versions,
    nullableVersions,
    taggedVersions,
    tag,
    default: dflt,
    ignorable: optBool(o, 'ignorable', at),
    mapKey: optBool(o, 'mapKey', at),
    entityType: optString(o, 'entityType', at) ?? null,
    flexibleVersions,
    about: optString(o, 'about', at) ?? '',
    fields,
  };
}

/** The struct a struct or struct-array field refers to, or null for primitives and primitive arrays. */
export function structName(type: FieldType): string | null {
  if (type.kind === 'struct') return type.name;
  if (type.kind === 'array' && type.element.kind === 'struct') return type.element.name;
  return null;
}

function checkUniqueFields(fields: readonly FieldSpec[], where: string): void {
  const names = new Set<string>();
  const tags = new Set<number>();
  for (const f of fields) {
    if (names.has(f.name)) throw new Error(`${where}: duplicate field ${f.jsonName}`);
    names.add(f.name);
    if (f.tag !== null) {
      if (tags.has(f.tag)) throw new Error(`${where}: duplicate tag ${f.tag}`);
      tags.add(f.tag);
    }
  }
}

export function parseMessageSpec(file: string, text: string): MessageSpec {
  let json: Json;
  try {
    json = JSON.parse(stripJsonComments(text)) as Json;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw new Error(`${file}: top level must be an object`);
  const name = optString(json, 'name', file);
  if (name === undefined) throw new Error(`${file}: missing name`);
  const type = optString(json, 'type', file);
  if (type !== 'request' && type !== 'response' && type !== 'header' && type !== 'data') {
    throw new Error(`${file}: unsupported message type ${String(type)}`);
  }
  const apiKeyValue = json['apiKey'];
  const apiKey = typeof apiKeyValue === 'number' ? apiKeyValue : null;
  if ((type === 'request' || type === 'response') && apiKey === null) throw new Error(`${file}: missing apiKey`);
  const validVersions = parseVersions(optString(json, 'validVersions', file), NO_VERSIONS);
  if (isEmpty(validVersions)) throw new Error(`${file}: no valid versions (removed API)`);
  if (validVersions.max === MAX_VERSION) throw new Error(`${file}: validVersions must have a maximum`);
  const flexibleVersions = parseVersions(optString(json, 'flexibleVersions', file), NO_VERSIONS);
  if (!isEmpty(flexibleVersions) && flexibleVersions.max !== MAX_VERSION) {
    throw new Error(`${file}: flexibleVersions must be open-ended`);
  }
  const rawFields = json['fields'];
  if (!Array.isArray(rawFields)) throw new Error(`${file}: missing fields`);
  const fields = rawFields.map((f) => parseField(f, name));

  const structs: StructSpec[] = [];
  const byName = new Map<string, StructSpec>();
  const register = (s: StructSpec): void => {
    if (byName.has(s.name)) throw new Error(`${file}: struct ${s.name} is defined twice`);
    if (s.name === name) throw new Error(`${file}: struct ${s.name} has the message's name`);
    byName.set(s.name, s);
    structs.push(s);
  };
  const rawCommon = json['commonStructs'];
  const commonDefs: { name: string; versions: VersionRange; fields: FieldSpec[] }[] = [];
  if (rawCommon !== undefined) {
    if (!Array.isArray(rawCommon)) throw new Error(`${file}: commonStructs must be an array`);
    for (const c of rawCommon) {
      if (!isObject(c)) throw new Error(`${file}: common struct must be an object`);
      const cname = optString(c, 'name', file);
      if (cname === undefined) throw new Error(`${file}: common struct without a name`);
      const cfields = c['fields'];
      if (!Array.isArray(cfields)) throw new Error(`${file}: common struct ${cname} has no fields`);
      commonDefs.push({
        name: cname,
        versions: parseVersions(optString(c, 'versions', cname), { min: 0, max: MAX_VERSION }),
        fields: cfields.map((f) => parseField(f, cname)),
      });
    }
  }
  const walk = (list: readonly FieldSpec[], where: string): void => {
    checkUniqueFields(list, where);
    for (const f of list) {
      const sname = structName(f.type);
      if (f.fields !== null && sname !== null) {
        register({ name: sname, fields: f.fields, versions: f.versions, common: false });
        walk(f.fields, sname);
      }
    }
  };
  walk(fields, name);
  for (const c of commonDefs) {
    register({ name: c.name, fields: c.fields, versions: c.versions, common: true });
    walk(c.fields, c.name);
  }
  // Every struct reference must resolve.
  const checkRefs = (list: readonly FieldSpec[], where: string): void => {
    for (const f of list) {
      const sname = structName(f.type);
      if (sname !== null && !byName.has(sname)) throw new Error(`${file}: ${where}.${f.jsonName} uses unknown ${sname}`);
      if (f.fields !== null) checkRefs(f.fields, `${where}.${f.jsonName}`);
    }
  };
  checkRefs(fields, name);
  for (const c of commonDefs) checkRefs(c.fields, c.name);

  return {
    file,
    name,
    type,
    apiKey,
    validVersions,
    flexibleVersions,
    latestVersionUnstable: optBool(json, 'latestVersionUnstable', file),
    fields,
    structs,
    structsByName: byName,
  };
}

/** Every *.json definition in `dir`, sorted by file name so that output does not depend on directory order. */
export function loadDefinitions(dir: string): MessageSpec[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  return files.map((f) => parseMessageSpec(f, readFileSync(join(dir, f), 'utf8')));
}
