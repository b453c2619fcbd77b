// `npm run bench`: runs every benchmark module in bench/*.bench.ts and prints a table of medians.
// Pass names to run only some: `npm run bench -- core state`.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Figure } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.bench\.ts$/, '')))
  .sort();

const figures: Figure[] = [];
for (const f of files) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { run: (r: (x: Figure) => void) => Promise<void> };
  console.log(`# ${f}`);
  await mod.run((x) => {
    figures.push(x);
    console.log(`  ${x.name}: ${formatNumber(x.median)} ${x.unit}${x.target ? `  (target ${x.target})` : ''}`);
  });
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(2);
}

console.log('\nmedians:');
for (const x of figures) console.log(`${x.name}\t${formatNumber(x.median)} ${x.unit}`);
