// Media IDs and the origin server names of mxc:// URIs: generation, and the strict checks every ID
// and server name passes before any file path is built from it (spec "Security considerations" of
// the content repository; Synapse's CVE-2021-41281 was a path traversal through such a name).
import { randomInt } from 'node:crypto';
import { parseServerName } from '../core/ids.js';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Length of the media IDs this server makes (as Synapse: 24 characters of [A-Za-z0-9]). */
export const MEDIA_ID_LENGTH = 24;

/** "The media-id segment MUST consist of only alphanumeric (A-Za-z0-9), _ and - characters". */
const MEDIA_ID_RE = /^[A-Za-z0-9_-]{1,255}$/;

/** A DNS name made of non-empty labels: no leading, trailing or doubled dot (so never "." or ".."). */
const DNS_LABELS_RE = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

/** A fresh random media ID: 24 characters of [A-Za-z0-9] from the CSPRNG. */
export function generateMediaId(length = MEDIA_ID_LENGTH): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return s;
}

/** Whether `s` is an acceptable media ID: [A-Za-z0-9_-], 1 to 255 characters. */
export function isValidMediaId(s: string): boolean {
  return MEDIA_ID_RE.test(s);
}

/**
 * Whether `s` is a server name safe to use as a media origin and as a folder name: a valid server
 * name (spec appendix "Server Name") whose DNS host has no empty label, so it can never be `.` or
 * `..` and never contain a path separator.
 */
export function isValidMediaOrigin(s: string): boolean {
  const parsed = parseServerName(s);
  if (!parsed) return false;
  if (parsed.kind === 'dns') return DNS_LABELS_RE.test(parsed.host);
  return true;
}
