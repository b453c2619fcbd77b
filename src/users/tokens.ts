// Opaque random access/refresh tokens, their SHA-256 storage form, and generated device IDs.
import { createHash, randomBytes, randomInt } from 'node:crypto';

/** 32 random bytes, URL-safe base64, with a prefix that says what the token is (handy in logs and leaks scanners). */
export function generateAccessToken(): string {
  return `mat_${randomBytes(32).toString('base64url')}`;
}

export function generateRefreshToken(): string {
  return `mrt_${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a token: SHA-256 of its UTF-8 bytes. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

const DEVICE_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Ten upper-case letters, as Synapse generates them (26^10 ≈ 1.4e14 values). */
export function generateDeviceId(): string {
  let out = '';
  for (let i = 0; i < 10; i++) out += DEVICE_ID_ALPHABET[randomInt(DEVICE_ID_ALPHABET.length)];
  return out;
}

/** A random opaque string for UIA session IDs and registration nonces. */
export function generateOpaqueId(bytes = 18): string {
  return randomBytes(bytes).toString('base64url');
}
