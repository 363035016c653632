// Ratios of paired runs: run i of one path divided by run i of another, taken from the same repetition so both
// saw the same machine moments. On this shared 2-core machine a single median swings by ±20 % from run to run;
// the spread of per-pair ratios (min / median / max) shows how far one number can be trusted.
import { median } from './stats.ts';

export interface RatioSpread {
  /** One ratio per pair, in repetition order; NaN where either side was missing or not positive. */
  values: number[];
  min: number;
  median: number;
  max: number;
  /** Pairs with a finite ratio. */
  pairs: number;
}

export function pairRatios(numerators: readonly number[], denominators: readonly number[]): RatioSpread {
  if (numerators.length !== denominators.length) {
    throw new Error(`pairRatios: ${numerators.length} numerators but ${denominators.length} denominators; runs must come in pairs`);
  }
  const values = numerators.map((n, i) => {
    const d = denominators[i];
    return Number.isFinite(n) && Number.isFinite(d) && d > 0 && n >= 0 ? n / d : Number.NaN;
  });
  const finite = values.filter((v) => Number.isFinite(v));
  return {
    values,
    min: finite.length === 0 ? Number.NaN : Math.min(...finite),
    median: median(finite),
    max: finite.length === 0 ? Number.NaN : Math.max(...finite),
    pairs: finite.length,
  };
}
