// Helpers for `npm run bench`: run a measurement several rounds and report the median.

export interface Figure {
  name: string;
  median: number;
  unit: string;
  /** Target from the issue, for the printed table, e.g. ">= 10000". */
  target?: string;
}

export type Report = (f: Figure) => void;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

/** Runs `fn` `iterations` times per round for `rounds` rounds; returns the median ops/s. */
export function opsPerSecond(fn: (i: number) => void, iterations: number, rounds = 5): number {
  for (let i = 0; i < Math.min(iterations, 200); i++) fn(i); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn(i);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(iterations / secs);
  }
  return median(rates);
}

/** Median wall time in milliseconds of `rounds` runs of an async function. */
export async function medianMs(fn: () => unknown | Promise<unknown>, rounds = 5): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}
