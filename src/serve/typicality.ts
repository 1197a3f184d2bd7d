// The typicality explorer's numbers: the closed forms of src/typicality at a chosen dimension K,
// annulus half-width and coin bias, exactly what `refinery typicality` computes at its fixed values
// (K = 100, radii 9 to 11, 16 tosses of a coin with p = 0.75).
import * as fs from 'fs';
import * as path from 'path';
import { int, num } from '../cli/flags';
import {
  MIRAGE_TYPICAL_RADIUS_LIMIT, chiMode, chiPdf, coinTable, gaussianAnnulusMass, gaussianEntropy, mirageEntropy, mirageTypicalRadius,
} from '../typicality';

export const TYPICALITY_PARAMS = {
  K: int({ description: 'dimension of the Gaussian', default: 100, min: 1, max: 1_000_000 }),
  width: num({ description: 'half-width of the annulus around sqrt(K)', default: 1, min: 0, max: 1000 }),
  p: num({ description: 'probability of heads', default: 0.75, min: 0, max: 1 }),
  tosses: int({ description: 'coin tosses', default: 16, min: 1, max: 50 }),
};

const POINTS = 200;

export function typicalityNumbers(v: { K: number; width: number; p: number; tosses: number }) {
  const { K, width, p, tosses } = v;
  const sqrtK = Math.sqrt(K);
  const r0 = Math.max(0, sqrtK - width), r1 = sqrtK + width;
  // from below the mirage's typical radius (≈ 0.53 √K) to past the Gaussian's shell, with a dense
  // grid over the shell (χ_K has a standard deviation near 1/√2 however large K is)
  const lo = Math.max(0, Math.min(sqrtK - 5, 0.45 * sqrtK)), hi = sqrtK + 5;
  const shellLo = Math.max(lo, sqrtK - 5);
  const grid = (a: number, b: number) => Array.from({ length: POINTS + 1 }, (_, i) => a + ((b - a) * i) / POINTS);
  const r = [...new Set([...grid(lo, hi), ...grid(shellLo, hi)])].sort((a, b) => a - b);
  // the mirage M_K's radius is half-normal HN(0, K) (addendum): density 2/sqrt(2πK) exp(−r²/(2K))
  const halfNormal = (x: number): number => (2 / Math.sqrt(2 * Math.PI * K)) * Math.exp(-(x * x) / (2 * K));
  const rows = coinTable(tosses, p);
  const bySeq = rows.reduce((a, b) => (b.pSequence > a.pSequence ? b : a));
  const byCount = rows.reduce((a, b) => (b.pHeads > a.pHeads ? b : a));
  const mirageR = mirageTypicalRadius(K);
  return {
    K, width, sqrtK,
    annulus: { r0, r1, mass: gaussianAnnulusMass(K, r0, r1) },
    chiMode: chiMode(K),
    entropy: { gaussian: gaussianEntropy(K), mirage: mirageEntropy(K) },
    mirage: { typicalRadius: mirageR, rOverSqrtK: mirageR / sqrtK, limit: MIRAGE_TYPICAL_RADIUS_LIMIT },
    curves: { r, gaussian: r.map((x) => chiPdf(x, K)), mirage: r.map(halfNormal) },
    coin: { tosses, p, rows, mostLikelySequence: { heads: bySeq.heads, pSequence: bySeq.pSequence }, mostLikelyCount: { heads: byCount.heads, pHeads: byCount.pHeads } },
  };
}

/** The OOD experiment's results (runs/typicality/ood.json, written by `refinery typicality ood`), or null. */
export function oodResults(runsDir: string): unknown {
  const file = path.join(runsDir, 'typicality', 'ood.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}
