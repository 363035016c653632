// Version ranges as the message JSONs write them: "3+", "3-12", "7", "none".
// An open range ends at 32767 (Short.MAX_VALUE), as in Kafka's generator (`Versions.java`).

export const MAX_VERSION = 0x7fff;

export interface VersionRange {
  readonly min: number;
  /** Inclusive; MAX_VERSION for open ranges. Empty when min > max. */
  readonly max: number;
}

export const NO_VERSIONS: VersionRange = { min: 1, max: 0 };

export function parseVersions(text: string | undefined, fallback: VersionRange): VersionRange {
  if (text === undefined) return fallback;
  const s = text.trim();
  if (s === 'none' || s === '') return NO_VERSIONS;
  let m = /^(\d+)\+$/.exec(s);
  if (m) return { min: Number(m[1]), max: MAX_VERSION };
  m = /^(\d+)-(\d+)$/.exec(s);
  if (m) {
    const r = { min: Number(m[1]), max: Number(m[2]) };
    if (r.min > r.max) throw new Error(`invalid version range "${text}"`);
    return r;
  }
  m = /^(\d+)$/.exec(s);
  if (m) return { min: Number(m[1]), max: Number(m[1]) };
  throw new Error(`invalid version range "${text}"`);
}

export function isEmpty(r: VersionRange): boolean {
  return r.min > r.max;
}

export function contains(r: VersionRange, v: number): boolean {
  return v >= r.min && v <= r.max;
}

export function intersect(a: VersionRange, b: VersionRange): VersionRange {
  const r = { min: Math.max(a.min, b.min), max: Math.min(a.max, b.max) };
  return isEmpty(r) ? NO_VERSIONS : r;
}

/** Every version of `inner` is in `outer` (an empty range is inside everything). */
export function isSubset(inner: VersionRange, outer: VersionRange): boolean {
  return isEmpty(inner) || (inner.min >= outer.min && inner.max <= outer.max);
}

export function sameRange(a: VersionRange, b: VersionRange): boolean {
  return (isEmpty(a) && isEmpty(b)) || (a.min === b.min && a.max === b.max);
}

/** `a` minus an open-ended `b` ("n+"): the part of `a` below b.min. */
export function below(a: VersionRange, b: VersionRange): VersionRange {
  if (isEmpty(b)) return a;
  if (b.max !== MAX_VERSION) throw new Error('below() needs an open-ended range');
  return intersect(a, { min: 0, max: b.min - 1 });
}

export function formatVersions(r: VersionRange): string {
  if (isEmpty(r)) return 'none';
  if (r.max === MAX_VERSION) return `${r.min}+`;
  if (r.min === r.max) return `${r.min}`;
  return `${r.min}-${r.max}`;
}
