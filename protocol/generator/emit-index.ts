// Emits protocol/messages/index.ts: API keys, version ranges, header-version rules and the dispatch from
// (apiKey, version) to the generated body codecs.

import type { MessageSpec } from './schema.ts';
import { generatedHeader, kebabCase } from './emit-message.ts';
import { isEmpty, sameRange } from './versions.ts';

interface Api {
  readonly name: string;
  readonly key: number;
  readonly request: MessageSpec;
  readonly response: MessageSpec;
}

export function collectApis(messages: readonly MessageSpec[]): Api[] {
  const requests = messages.filter((m) => m.type === 'request');
  const apis: Api[] = [];
  for (const request of requests) {
    const response = messages.find((m) => m.type === 'response' && m.apiKey === request.apiKey);
    if (!response) throw new Error(`${request.file}: no response definition for API key ${request.apiKey}`);
    if (!request.name.endsWith('Request')) throw new Error(`${request.file}: request name must end in "Request"`);
    // Kafka keeps request and response ranges in lockstep; the dispatch below relies on it.
    if (!sameRange(request.validVersions, response.validVersions)) {
      throw new Error(`${request.file}: request and response validVersions differ`);
    }
    if (!sameRange(request.flexibleVersions, response.flexibleVersions)) {
      throw new Error(`${request.file}: request and response flexibleVersions differ`);
    }
    apis.push({ name: request.name.slice(0, -'Request'.length), key: request.apiKey ?? -1, request, response });
  }
  for (const m of messages) {
    if (m.type === 'response' && !apis.some((a) => a.response === m)) {
      throw new Error(`${m.file}: no request definition for API key ${m.apiKey}`);
    }
  }
  const keys = new Set<number>();
  for (const a of apis) {
    if (keys.has(a.key)) throw new Error(`API key ${a.key} is defined twice`);
    keys.add(a.key);
  }
  return apis.sort((a, b) => a.key - b.key);
}

export function emitIndex(messages: readonly MessageSpec[]): string {
  const apis = collectApis(messages);
  // Its responses always use header v0 (KIP-511), so that any client can read the error it carries.
  const apiVersions = apis.find((a) => a.name === 'ApiVersions');
  const out: string[] = [
    generatedHeader(`${messages.length} definitions`),
    '',
    "import { KafkaCodecError, KafkaCodecErrorCode } from '../errors.ts';",
    "import type { Reader } from '../reader.ts';",
    "import type { Writer } from '../writer.ts';",
  ];
  for (const a of apis) {
    for (const m of [a.request, a.response]) {
      out.push(`import { decode${m.name}, encode${m.name}, type ${m.name} } from './${kebabCase(m.name)}.ts';`);
    }
  }
  out.push('');
  out.push('export type {');
  for (const a of apis) out.push(`  ${a.request.name},`, `  ${a.response.name},`);
  out.push('};');
  out.push("export { MESSAGE_SCHEMAS } from './schemas.ts';");
  for (const m of messages.filter((x) => x.type === 'header')) {
    out.push(`export { decode${m.name}, encode${m.name}, type ${m.name} } from './${kebabCase(m.name)}.ts';`);
  }

  out.push('', '/** API keys by name (the request message name without "Request"). */', 'export const ApiKey = {');
  for (const a of apis) out.push(`  ${a.name}: ${a.key},`);
  out.push('} as const;', 'export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey];');

  out.push(
    '',
    'export interface ApiInfo {',
    '  readonly name: string;',
    '  readonly apiKey: ApiKey;',
    '  readonly minVersion: number;',
    '  readonly maxVersion: number;',
    '  /** Lowest flexible (KIP-482) version, or null when no version is flexible. */',
    '  readonly flexibleMinVersion: number | null;',
    '  /** The newest version is not advertised by a default broker. */',
    '  readonly latestVersionUnstable: boolean;',
    '}',
    '',
    '/** Version ranges of every generated API (the definitions\' validVersions and flexibleVersions). */',
    'export const API_INFO: { readonly [K in ApiKey]: ApiInfo } = {',
  );
  for (const a of apis) {
    const flex = isEmpty(a.request.flexibleVersions) ? 'null' : String(a.request.flexibleVersions.min);
    out.push(
      `  ${a.key}: { name: '${a.name}', apiKey: ${a.key}, minVersion: ${a.request.validVersions.min}, ` +
        `maxVersion: ${a.request.validVersions.max}, flexibleMinVersion: ${flex}, ` +
        `latestVersionUnstable: ${a.request.latestVersionUnstable || a.response.latestVersionUnstable} },`,
    );
  }
  out.push('};');

  out.push('', '/** Request body type per API key. */', 'export interface RequestBodies {');
  for (const a of apis) out.push(`  ${a.key}: ${a.request.name};`);
  out.push('}', '', '/** Response body type per API key. */', 'export interface ResponseBodies {');
  for (const a of apis) out.push(`  ${a.key}: ${a.response.name};`);
  out.push('}', '', 'export type RequestBody = RequestBodies[ApiKey];', 'export type ResponseBody = ResponseBodies[ApiKey];');

  out.push(
    '',
    '// Method syntax (not function-typed properties) on purpose: methods are checked bivariantly, which lets the',
    '// table hold each API\'s precisely typed codec under the union body type.',
    'interface ApiCodec {',
    '  readonly info: ApiInfo;',
    '  decodeRequest(r: Reader, v: number): RequestBody;',
    '  encodeRequest(w: Writer, v: number, m: RequestBody): void;',
    '  decodeResponse(r: Reader, v: number): ResponseBody;',
    '  encodeResponse(w: Writer, v: number, m: ResponseBody): void;',
    '}',
    '',
    '/** Indexed by API key (a sparse array: lookups of unknown keys give undefined). */',
    'const CODECS: (ApiCodec | undefined)[] = [];',
  );
  for (const a of apis) {
    out.push(
      `CODECS[${a.key}] = {`,
      `  info: API_INFO[${a.key}],`,
      `  decodeRequest: decode${a.request.name},`,
      `  encodeRequest: encode${a.request.name},`,
      `  decodeResponse: decode${a.response.name},`,
      `  encodeResponse: encode${a.response.name},`,
      '};',
    );
  }

  out.push(
    '',
    'export function isApiKey(apiKey: number): apiKey is ApiKey {',
    '  return Number.isInteger(apiKey) && apiKey >= 0 && CODECS[apiKey] !== undefined;',
    '}',
    '',
    '/** The API and version exist in the definitions (the codec can decode and encode them). */',
    'export function isSupportedVersion(apiKey: number, version: number): boolean {',
    '  const info = isApiKey(apiKey) ? API_INFO[apiKey] : undefined;',
    '  return info !== undefined && Number.isInteger(version) && version >= info.minVersion && version <= info.maxVersion;',
    '}',
    '',
    '/**',
    ' * Whether the version uses KIP-482 flexible encoding. Like Kafka, this looks only at flexibleVersions, not at',
    ' * validVersions: a version above the supported range is flexible if the API\'s flexible range is open-ended.',
    ' */',
    'export function isFlexibleVersion(apiKey: number, version: number): boolean {',
    '  const info = isApiKey(apiKey) ? API_INFO[apiKey] : undefined;',
    '  return info !== undefined && info.flexibleMinVersion !== null && version >= info.flexibleMinVersion;',
    '}',
    '',
    '/**',
    ' * Request header version: 2 for flexible request versions, else 1 (Kafka\'s ApiMessageType.requestHeaderVersion).',
    ' * Unknown API keys get 1, whose layout (key, version, correlation id, int16-length client id) is the prefix',
    ' * every header version shares.',
    ' */',
    'export function requestHeaderVersion(apiKey: number, version: number): 1 | 2 {',
    '  return isFlexibleVersion(apiKey, version) ? 2 : 1;',
    '}',
    '',
    '/**',
    ' * Response header version: 1 for flexible versions, else 0. ApiVersions responses always use v0 (KIP-511), so',
    ' * that a client can read the error of a version the broker does not support.',
    ' */',
    'export function responseHeaderVersion(apiKey: number, version: number): 0 | 1 {',
    ...(apiVersions === undefined ? [] : [`  if (apiKey === ${apiVersions.key}) return 0;`]),
    '  return isFlexibleVersion(apiKey, version) ? 1 : 0;',
    '}',
    '',
    'function codecFor(apiKey: number, version: number): ApiCodec {',
    '  const codec = Number.isInteger(apiKey) && apiKey >= 0 ? CODECS[apiKey] : undefined;',
    '  if (codec === undefined) {',
    '    throw new KafkaCodecError(KafkaCodecErrorCode.UNSUPPORTED_VERSION, `unknown API key ${apiKey}`, {',
    '      apiKey,',
    '      apiVersion: version,',
    '    });',
    '  }',
    '  if (!(Number.isInteger(version) && version >= codec.info.minVersion && version <= codec.info.maxVersion)) {',
    '    throw new KafkaCodecError(',
    '      KafkaCodecErrorCode.UNSUPPORTED_VERSION,',
    '      `${codec.info.name} v${version} is outside the supported range ${codec.info.minVersion}-${codec.info.maxVersion}`,',
    '      { apiKey, apiVersion: version },',
    '    );',
    '  }',
    '  return codec;',
    '}',
    '',
    'export function decodeRequestBody<K extends ApiKey>(apiKey: K, version: number, reader: Reader): RequestBodies[K];',
    'export function decodeRequestBody(apiKey: number, version: number, reader: Reader): RequestBody;',
    'export function decodeRequestBody(apiKey: number, version: number, reader: Reader): RequestBody {',
    '  return codecFor(apiKey, version).decodeRequest(reader, version);',
    '}',
    '',
    'export function encodeRequestBody<K extends ApiKey>(',
    '  writer: Writer,',
    '  apiKey: K,',
    '  version: number,',
    '  body: RequestBodies[K],',
    '): void;',
    'export function encodeRequestBody(writer: Writer, apiKey: number, version: number, body: RequestBody): void;',
    'export function encodeRequestBody(writer: Writer, apiKey: number, version: number, body: RequestBody): void {',
    '  codecFor(apiKey, version).encodeRequest(writer, version, body);',
    '}',
    '',
    'export function decodeResponseBody<K extends ApiKey>(apiKey: K, version: number, reader: Reader): ResponseBodies[K];',
    'export function decodeResponseBody(apiKey: number, version: number, reader: Reader): ResponseBody;',
    'export function decodeResponseBody(apiKey: number, version: number, reader: Reader): ResponseBody {',
    '  return codecFor(apiKey, version).decodeResponse(reader, version);',
    '}',
    '',
    'export function encodeResponseBody<K extends ApiKey>(',
    '  writer: Writer,',
    '  apiKey: K,',
    '  version: number,',
    '  body: ResponseBodies[K],',
    '): void;',
    'export function encodeResponseBody(writer: Writer, apiKey: number, version: number, body: ResponseBody): void;',
    'export function encodeResponseBody(writer: Writer, apiKey: number, version: number, body: ResponseBody): void {',
    '  codecFor(apiKey, version).encodeResponse(writer, version, body);',
    '}',
    '',
  );
  return out.join('\n');
}
