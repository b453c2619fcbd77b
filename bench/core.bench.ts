// Benchmarks of the pure protocol core: canonical JSON encoding, strict JSON parsing, ed25519 sign/verify.
import { generateSigningKey, verifyEd25519 } from '../src/core/crypto/ed25519.js';
import { signJson, verifyJsonSignature, jsonSigningBytes } from '../src/core/crypto/signing.js';
import { canonicalJsonBytes } from '../src/core/json/canonical.js';
import { parseJson } from '../src/core/json/parse.js';
import type { JsonObject } from '../src/core/json/types.js';
import { opsPerSecond, type Report } from './lib.js';

/** A room message PDU shaped like what federation carries (about 1.5 KB of canonical JSON). */
function sampleEvent(i: number): JsonObject {
  const hash = (n: number): string => `$${'Abc123-_xyZ'.repeat(4).slice(0, 43 - String(n).length)}${n}`;
  return {
    auth_events: [hash(i + 1), hash(i + 2), hash(i + 3)],
    content: {
      body: `Message number ${i}: the quick brown fox jumps over the lazy dog. Ünïcödé 日本語 \u{1F600} and a "quote".`,
      format: 'org.matrix.custom.html',
      formatted_body: `<p>Message number <b>${i}</b>: the quick brown fox jumps over the lazy dog.</p><blockquote>quoted &amp; escaped</blockquote>`,
      msgtype: 'm.text',
      'm.relates_to': { 'm.in_reply_to': { event_id: hash(i + 4) } },
    },
    depth: 1000 + i,
    hashes: { sha256: 'onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g' },
    origin_server_ts: 1_700_000_000_000 + i,
    prev_events: [hash(i + 5)],
    room_id: '!OGEhHVWSdvArJzumhm:matrix.org',
    sender: '@alice_the_benchmarker:example.org',
    type: 'm.room.message',
    signatures: {
      'example.org': {
        'ed25519:a_Xk3q': 'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw',
      },
    },
    unsigned: { age_ts: 1_700_000_000_000 + i, 'm.relations': { 'm.annotation': { chunk: [{ key: '👍', count: 3 }] } } },
  };
}

/** About 1 MB: a send_join-style response body (state and auth chain lists of PDUs). */
function largeObject(): JsonObject {
  const state: JsonObject[] = [];
  for (let i = 0; state.length === 0 || canonicalJsonBytes({ state }).length < 1_000_000; i++) state.push(sampleEvent(i));
  return { origin: 'example.org', state, auth_chain: [] };
}

const mb = (bytes: number, opsPerSec: number): number => (bytes * opsPerSec) / 1e6;

export async function run(report: Report): Promise<void> {
  const event = sampleEvent(1);
  const eventBytes = canonicalJsonBytes(event).length;
  const large = largeObject();
  const largeBytes = canonicalJsonBytes(large).length;

  report({
    name: `canonical JSON encode, ${eventBytes} B event`,
    median: mb(eventBytes, opsPerSecond(() => canonicalJsonBytes(event), 20_000)),
    unit: 'MB/s',
  });
  report({
    name: `canonical JSON encode, ${(largeBytes / 1e6).toFixed(2)} MB object`,
    median: mb(largeBytes, opsPerSecond(() => canonicalJsonBytes(large), 20)),
    unit: 'MB/s',
  });

  // Parsing: the wire form is compact JSON with keys in whatever order the sender used.
  const eventText = JSON.stringify(event);
  const largeText = JSON.stringify(large);
  const strict = { strictNumbers: true } as const;
  report({
    name: `strict parse, ${eventText.length} B event`,
    median: mb(eventText.length, opsPerSecond(() => parseJson(eventText, strict), 20_000)),
    unit: 'MB/s',
  });
  report({
    name: `strict parse, ${(largeText.length / 1e6).toFixed(2)} MB object`,
    median: mb(largeText.length, opsPerSecond(() => parseJson(largeText, strict), 20)),
    unit: 'MB/s',
  });
  report({
    name: 'strict parse + duplicate-key check, 1 MB object',
    median: mb(largeText.length, opsPerSecond(() => parseJson(largeText, { strictNumbers: true, duplicateKeys: 'reject' }), 10)),
    unit: 'MB/s',
  });
  report({
    name: 'JSON.parse alone (reference), 1 MB object',
    median: mb(largeText.length, opsPerSecond(() => JSON.parse(largeText), 20)),
    unit: 'MB/s',
  });

  // Signing: raw ed25519 over the event's signing bytes, then the whole signJson step.
  const key = generateSigningKey();
  const message = jsonSigningBytes(event);
  report({
    name: `ed25519 sign, ${message.length} B`,
    median: opsPerSecond(() => key.sign(message), 5_000),
    unit: 'ops/s',
    target: '>= 25000',
  });
  report({
    name: 'signJson (canonicalise + sign + merge), event',
    median: opsPerSecond(() => signJson(event, 'bench.example', key), 5_000),
    unit: 'ops/s',
  });

  const signature = key.sign(message);
  report({
    name: `ed25519 verify, ${message.length} B`,
    median: opsPerSecond(() => verifyEd25519(key.publicKey, message, signature), 3_000),
    unit: 'ops/s',
    target: '>= 10000',
  });
  const signed = signJson(event, 'bench.example', key);
  report({
    name: 'verifyJsonSignature (canonicalise + verify), event',
    median: opsPerSecond(() => verifyJsonSignature(signed, 'bench.example', key.keyId, key.publicKey), 3_000),
    unit: 'ops/s',
  });
}
