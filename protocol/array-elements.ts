// Element readers and writers for arrays of primitives (`[]int32`, `[]string`, ...), in the shapes that
// Reader#array and Writer#array take. Generated code references these module-level functions instead of creating a
// closure per decoded array.

import type { Reader } from './reader.ts';
import type { Writer } from './writer.ts';

export const readBoolElement = (r: Reader): boolean => r.bool();
export const readInt8Element = (r: Reader): number => r.int8();
export const readInt16Element = (r: Reader): number => r.int16();
export const readUint16Element = (r: Reader): number => r.uint16();
export const readInt32Element = (r: Reader): number => r.int32();
export const readUint32Element = (r: Reader): number => r.uint32();
export const readInt64Element = (r: Reader): bigint => r.int64();
export const readFloat64Element = (r: Reader): number => r.float64();
export const readUuidElement = (r: Reader): string => r.uuid();
export const readStringElement = (r: Reader): string => r.string();
export const readCompactStringElement = (r: Reader): string => r.compactString();
export const readBytesElement = (r: Reader): Buffer => r.bytes();
export const readCompactBytesElement = (r: Reader): Buffer => r.compactBytes();

export const writeBoolElement = (w: Writer, _v: number, x: boolean): void => w.bool(x);
export const writeInt8Element = (w: Writer, _v: number, x: number): void => w.int8(x);
export const writeInt16Element = (w: Writer, _v: number, x: number): void => w.int16(x);
export const writeUint16Element = (w: Writer, _v: number, x: number): void => w.uint16(x);
export const writeInt32Element = (w: Writer, _v: number, x: number): void => w.int32(x);
export const writeUint32Element = (w: Writer, _v: number, x: number): void => w.uint32(x);
export const writeInt64Element = (w: Writer, _v: number, x: bigint): void => w.int64(x);
export const writeFloat64Element = (w: Writer, _v: number, x: number): void => w.float64(x);
export const writeUuidElement = (w: Writer, _v: number, x: string): void => w.uuid(x);
export const writeStringElement = (w: Writer, _v: number, x: string): void => w.string(x);
export const writeCompactStringElement = (w: Writer, _v: number, x: string): void => w.compactString(x);
export const writeBytesElement = (w: Writer, _v: number, x: Buffer): void => w.bytes(x);
export const writeCompactBytesElement = (w: Writer, _v: number, x: Buffer): void => w.compactBytes(x);
