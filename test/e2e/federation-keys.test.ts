// Server keys between real server processes over HTTPS on loopback: a notary fetching and caching
// another server's keys, notary answers signed by both, a server falling back to its trusted key
// server when the origin is down, answers from SQLite after a restart, key rotation, and the IP
// blacklist refusing loopback when nothing is whitelisted.
import { writeFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSigningKeyFile, generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { verifyJsonSignature } from '../../src/core/crypto/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { api, federationRequest, startInstances, type Instance, type Instances } from './federation-harness.js';

let cluster: Instances;
let A: Instance;
let B: Instance;
let C: Instance;
let D: Instance;

beforeAll(async () => {
  cluster = await startInstances(4, {
    config: (i, all) => {
      // C trusts B as its notary (pinned key); D keeps the default blacklist with no whitelist.
      if (i === 2) return { trusted_key_servers: [{ server_name: all[1]!.serverName, verify_keys: { [all[1]!.keyId]: all[1]!.publicKey } }] };
      if (i === 3) return { ip_range_whitelist: [], log_level: 'debug' };
      return {};
    },
  });
  [A, B, C, D] = cluster.servers as [Instance, Instance, Instance, Instance];
}, 120_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

function signedBy(doc: JsonObject, server: Instance | { serverName: string; keyId: string; publicKey: string }): boolean {
  return verifyJsonSignature(doc, server.serverName, server.keyId, server.publicKey);
}

function only(list: JsonObject[], serverName: string): JsonObject[] {
  return list.filter((d) => d.server_name === serverName);
}

describe('server keys across instances', () => {
  it('each instance publishes its own signed keys', async () => {
    const r = await api(A, undefined, 'GET', '/_matrix/key/v2/server');
    expect(r.status).toBe(200);
    expect(r.body.server_name).toBe(A.serverName);
    expect(r.body.verify_keys[A.keyId].key).toBe(A.publicKey);
    expect(r.body.old_verify_keys).toEqual({});
    expect(signedBy(r.body, A)).toBe(true);
  });

  it('a notary fetches another server keys over HTTPS and serves them signed by both', async () => {
    const r = await api(B, undefined, 'GET', `/_matrix/key/v2/query/${encodeURIComponent(A.serverName)}`);
    expect(r.status).toBe(200);
    const docs = only(r.body.server_keys, A.serverName);
    expect(docs).toHaveLength(1);
    const doc = docs[0]!;
    expect(doc.verify_keys).toEqual({ [A.keyId]: { key: A.publicKey } });
    expect(signedBy(doc, A)).toBe(true);
    expect(signedBy(doc, B)).toBe(true);
    expect(Object.keys(doc.signatures as JsonObject).sort()).toEqual([A.serverName, B.serverName].sort());
  });

  it('POST /key/v2/query answers for several servers, itself included, and nothing for unreachable ones', async () => {
    const r = await api(B, undefined, 'POST', '/_matrix/key/v2/query', {
      server_keys: {
        [A.serverName]: { [A.keyId]: { minimum_valid_until_ts: Date.now() } },
        [B.serverName]: {},
        'localhost:1': {},
      },
    });
    expect(r.status).toBe(200);
    const list = r.body.server_keys as JsonObject[];
    expect(only(list, A.serverName)).toHaveLength(1);
    expect(signedBy(only(list, A.serverName)[0]!, A)).toBe(true);
    const own = only(list, B.serverName);
    expect(own).toHaveLength(1);
    expect(signedBy(own[0]!, B)).toBe(true);
    expect(only(list, 'localhost:1')).toEqual([]);
  });

  it('X-Matrix between instances: B accepts A-signed requests (fetching A key over HTTPS), refuses forged ones', async () => {
    const path = `/_matrix/federation/v1/send/${Date.now()}`;
    const txn = { origin: A.serverName, origin_server_ts: Date.now(), pdus: [], edus: [] };
    const ok = await federationRequest(B, A, 'PUT', path, txn);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toEqual({ pdus: {} });
    const forger = { serverName: A.serverName, signingKey: generateSigningKey(A.keyId.slice('ed25519:'.length)) };
    const forged = await federationRequest(B, forger, 'PUT', `${path}x`, txn);
    expect(forged.status).toBe(401);
    expect(forged.body.errcode).toBe('M_UNAUTHORIZED');
    const unsigned = await federationRequest(B, A, 'PUT', `${path}y`, txn, { sign: false });
    expect(unsigned.status).toBe(401);
    const misdirected = await federationRequest(B, A, 'PUT', `${path}z`, txn, { destination: C.serverName });
    expect(misdirected.status).toBe(401);
  });

  it('refuses malformed notary queries', async () => {
    expect((await api(B, undefined, 'POST', '/_matrix/key/v2/query', { server_keys: [] })).status).toBe(400);
    expect((await api(B, undefined, 'GET', `/_matrix/key/v2/query/${encodeURIComponent(A.serverName)}?minimum_valid_until_ts=soon`)).status).toBe(400);
  });

  it('outbound requests to loopback are refused without ip_range_whitelist', async () => {
    const r = await api(D, undefined, 'GET', `/_matrix/key/v2/query/${encodeURIComponent(A.serverName)}`);
    expect(r.status).toBe(200);
    expect(r.body.server_keys).toEqual([]);
    // Refused at connect time by the blacklist (not, say, by a TLS or DNS failure).
    expect(D.logTail(500)).toMatch(/ip_range_blacklist/);
  });

  it('with the origin down, a server gets its keys from its trusted notary', async () => {
    await A.stop();
    const r = await api(C, undefined, 'GET', `/_matrix/key/v2/query/${encodeURIComponent(A.serverName)}`);
    expect(r.status).toBe(200);
    const docs = only(r.body.server_keys, A.serverName);
    expect(docs).toHaveLength(1);
    expect(docs[0]!.verify_keys).toEqual({ [A.keyId]: { key: A.publicKey } });
    expect(signedBy(docs[0]!, A)).toBe(true);
    expect(signedBy(docs[0]!, C)).toBe(true);
  }, 60_000);

  it('a notary restarted while the origin is down still answers from its database', async () => {
    await B.stop();
    await B.start();
    const r = await api(B, undefined, 'GET', `/_matrix/key/v2/query/${encodeURIComponent(A.serverName)}`);
    expect(r.status).toBe(200);
    const docs = only(r.body.server_keys, A.serverName);
    expect(docs).toHaveLength(1);
    expect(signedBy(docs[0]!, A)).toBe(true);
    expect(signedBy(docs[0]!, B)).toBe(true);
  }, 60_000);

  it('key rotation: the old key moves to old_verify_keys and notaries learn the new key', async () => {
    const oldKeyId = A.keyId;
    const oldPublic = A.publicKey;
    const fresh = generateSigningKey('rotated');
    const expiredTs = Date.now() - 1000;
    const config = JSON.parse(readFileSync(A.configPath, 'utf8')) as Record<string, unknown>;
    config.old_signing_keys = { [oldKeyId]: { key: oldPublic, expired_ts: expiredTs } };
    writeFileSync(A.configPath, JSON.stringify(config, null, 2));
    writeFileSync(JSON.parse(JSON.stringify(config)).signing_key_path as string, formatSigningKeyFile([fresh]), { mode: 0o600 });
    await A.start();

    const own = await api(A, undefined, 'GET', '/_matrix/key/v2/server');
    expect(own.body.verify_keys).toEqual({ [fresh.keyId]: { key: fresh.publicKey } });
    expect(own.body.old_verify_keys).toEqual({ [oldKeyId]: { key: oldPublic, expired_ts: expiredTs } });
    expect(verifyJsonSignature(own.body, A.serverName, fresh.keyId, fresh.publicKey)).toBe(true);

    // B (restarted above, so free to fetch again) is asked for the new key it has never seen.
    const r = await api(B, undefined, 'POST', '/_matrix/key/v2/query', { server_keys: { [A.serverName]: { [fresh.keyId]: {} } } });
    const docs = only(r.body.server_keys, A.serverName);
    const newest = docs.find((d) => isObj(d.verify_keys) && fresh.keyId in d.verify_keys);
    expect(newest).toBeDefined();
    expect(newest!.old_verify_keys).toEqual({ [oldKeyId]: { key: oldPublic, expired_ts: expiredTs } });
    expect(verifyJsonSignature(newest!, A.serverName, fresh.keyId, fresh.publicKey)).toBe(true);
    expect(signedBy(newest!, B)).toBe(true);
  }, 60_000);
});

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
