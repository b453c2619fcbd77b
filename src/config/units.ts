// Synapse-style durations ("1d", "2h", "30m", "500ms" or a number of ms) and sizes ("50M", "512K").

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};
const DURATION_RE = /^([0-9]+)(ms|s|m|h|d|w|y)?$/;

/** Milliseconds for a duration, or undefined when it is not one. Plain numbers are milliseconds. */
export function parseDuration(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  const m = DURATION_RE.exec(v.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']!;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const SIZE_RE = /^([0-9]+)([KMGT]?)B?$/i;

/** Bytes for a size, or undefined when it is not one. Suffixes are powers of 1024, as in Synapse. */
export function parseSize(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  const m = SIZE_RE.exec(v.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
