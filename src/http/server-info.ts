// This implementation's name and version, as reported by /_matrix/federation/v1/version.
import { readFileSync } from 'node:fs';

export const SERVER_SOFTWARE_NAME = 'tsmatrix';

/** package.json sits two levels above this file in both src/http/ and dist/http/. */
function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const SERVER_SOFTWARE_VERSION: string = readVersion();
