// Unpadded base64 (spec appendix "Unpadded Base64"), standard and URL-safe alphabets.
// Decoding accepts padded and unpadded input, as the spec asks of receivers.

const STD_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_RE = /^[A-Za-z0-9_-]*={0,2}$/;

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function checkLength(s: string): void {
  const unpadded = s.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) throw new Error('invalid base64 length');
}

/** Decodes standard base64, padded or not. Throws on characters outside the alphabet. */
export function decodeBase64(s: string): Buffer {
  if (!STD_RE.test(s)) throw new Error('invalid base64');
  checkLength(s);
  return Buffer.from(s, 'base64');
}

/** Decodes URL-safe base64, padded or not. */
export function decodeBase64Url(s: string): Buffer {
  if (!URL_RE.test(s)) throw new Error('invalid base64url');
  checkLength(s);
  return Buffer.from(s, 'base64url');
}
