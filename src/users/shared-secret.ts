// Synapse's shared-secret registration (admin API /_synapse/admin/v1/register): the MAC over the
// request fields, its constant-time check, and the single-use expiring nonces.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { generateOpaqueId } from './tokens.js';

export interface SharedSecretMacInput {
  nonce: string;
  username: string;
  password: string;
  admin: boolean;
  /** Appended (after a NUL) only when present, as Synapse does. */
  userType?: string | null;
}

/**
 * Hex HMAC-SHA1 keyed by the shared secret over
 * `nonce \0 username \0 password \0 ("admin" | "notadmin") [\0 user_type]` (UTF-8).
 */
export function computeRegistrationMac(secret: string, input: SharedSecretMacInput): string {
  const mac = createHmac('sha1', Buffer.from(secret, 'utf8'));
  mac.update(input.nonce, 'utf8');
  mac.update('\0');
  mac.update(input.username, 'utf8');
  mac.update('\0');
  mac.update(input.password, 'utf8');
  mac.update('\0');
  mac.update(input.admin ? 'admin' : 'notadmin');
  if (input.userType) {
    mac.update('\0');
    mac.update(input.userType, 'utf8');
  }
  return mac.digest('hex');
}

/** Compares a client's hex MAC with the expected one in constant time (case-insensitive hex). */
export function macMatches(expectedHex: string, givenHex: string): boolean {
  if (!/^[0-9a-fA-F]*$/.test(givenHex)) return false;
  const a = Buffer.from(expectedHex, 'hex');
  const b = Buffer.from(givenHex.toLowerCase(), 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface NonceStore {
  issue(): string;
  /** True once for a nonce issued less than the lifetime ago; the nonce is gone afterwards. */
  consume(nonce: string): boolean;
  readonly size: number;
}

/** Nonces live 60 s (Synapse's timeout) and are used at most once. */
export function createNonceStore(clock: () => number, lifetimeMs = 60_000, maxNonces = 10_000): NonceStore {
  const issued = new Map<string, number>();
  function expire(now: number): void {
    for (const [n, ts] of issued) {
      if (ts + lifetimeMs > now && issued.size <= maxNonces) break;
      issued.delete(n);
    }
  }
  return {
    get size() {
      return issued.size;
    },
    issue() {
      const now = clock();
      const nonce = generateOpaqueId(24);
      issued.set(nonce, now);
      expire(now);
      return nonce;
    },
    consume(nonce) {
      const ts = issued.get(nonce);
      if (ts === undefined) return false;
      issued.delete(nonce);
      return ts + lifetimeMs > clock();
    },
  };
}
