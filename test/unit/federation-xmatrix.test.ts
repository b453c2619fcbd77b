// X-Matrix Authorization headers: the written form, lenient parsing, and signing/verifying requests.
import { describe, expect, it } from 'vitest';
import { generateSigningKey, signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';
import { canonicalJson } from '../../src/core/json/canonical.js';
import {
  formatXMatrixHeader,
  parseXMatrixHeader,
  requestSigningObject,
  signRequest,
  verifyRequestSignature,
} from '../../src/federation/x-matrix.js';

describe('formatXMatrixHeader', () => {
  it('quotes every value and puts no space after the commas', () => {
    expect(formatXMatrixHeader({ origin: 'a.example', destination: 'b.example:8448', key: 'ed25519:1', sig: 'ABC/+d' })).toBe(
      'X-Matrix origin="a.example",destination="b.example:8448",key="ed25519:1",sig="ABC/+d"',
    );
  });
  it('leaves destination out when absent', () => {
    expect(formatXMatrixHeader({ origin: 'a', key: 'ed25519:1', sig: 's' })).toBe('X-Matrix origin="a",key="ed25519:1",sig="s"');
  });
  it('escapes quotes and backslashes', () => {
    const h = formatXMatrixHeader({ origin: 'a"b\\c', key: 'ed25519:1', sig: 's' });
    expect(h).toBe('X-Matrix origin="a\\"b\\\\c",key="ed25519:1",sig="s"');
    expect(parseXMatrixHeader(h)?.origin).toBe('a"b\\c');
  });
});

describe('parseXMatrixHeader', () => {
  const full = { origin: 'origin.example', destination: 'dest.example:8448', key: 'ed25519:key1', sig: 'c2lnbmF0dXJl' };
  const cases: [string, string, ReturnType<typeof parseXMatrixHeader>][] = [
    ['quoted, no spaces', 'X-Matrix origin="origin.example",destination="dest.example:8448",key="ed25519:key1",sig="c2lnbmF0dXJl"', full],
    ['unquoted values', 'X-Matrix origin=origin.example,destination=dest.example:8448,key=ed25519:key1,sig=c2lnbmF0dXJl', full],
    ['spaces after commas', 'X-Matrix origin="origin.example", destination="dest.example:8448", key="ed25519:key1", sig="c2lnbmF0dXJl"', full],
    ['spaces around = and commas', 'X-Matrix  origin = "origin.example" ,destination= dest.example:8448 , key ="ed25519:key1",sig="c2lnbmF0dXJl" ', full],
    ['scheme and names in other case', 'x-matrix ORIGIN="origin.example",Destination="dest.example:8448",KEY="ed25519:key1",Sig="c2lnbmF0dXJl"', full],
    ['parameters in another order', 'X-Matrix sig="c2lnbmF0dXJl",key="ed25519:key1",origin="origin.example",destination="dest.example:8448"', full],
    ['no destination (servers before v1.3)', 'X-Matrix origin=origin.example,key="ed25519:key1",sig="c2lnbmF0dXJl"', { origin: 'origin.example', key: 'ed25519:key1', sig: 'c2lnbmF0dXJl' }],
    ['comma inside quotes', 'X-Matrix origin="a,b",key="ed25519:k",sig="s"', { origin: 'a,b', key: 'ed25519:k', sig: 's' }],
    ['escaped quote inside quotes', 'X-Matrix origin="a\\"b",key="ed25519:k",sig="s"', { origin: 'a"b', key: 'ed25519:k', sig: 's' }],
    ['unknown parameters ignored', 'X-Matrix origin=o,foo="bar, baz",key=ed25519:k,sig=s', { origin: 'o', key: 'ed25519:k', sig: 's' }],
    ['empty list elements', 'X-Matrix origin=o,,key=ed25519:k,sig=s,', { origin: 'o', key: 'ed25519:k', sig: 's' }],
    ['first occurrence wins', 'X-Matrix origin=first,origin=second,key=ed25519:k,sig=s', { origin: 'first', key: 'ed25519:k', sig: 's' }],
    ['base64 with + and / unquoted', 'X-Matrix origin=o,key=ed25519:k,sig=ab+/cd', { origin: 'o', key: 'ed25519:k', sig: 'ab+/cd' }],
    ['IPv6 origin', 'X-Matrix origin="[::1]:8448",key="ed25519:k",sig="s"', { origin: '[::1]:8448', key: 'ed25519:k', sig: 's' }],
    ['empty destination treated as absent', 'X-Matrix origin=o,destination="",key=ed25519:k,sig=s', { origin: 'o', key: 'ed25519:k', sig: 's' }],
    ['another scheme', 'Bearer abc', null],
    ['scheme prefix only', 'X-Matrixorigin=o,key=k,sig=s', null],
    ['missing sig', 'X-Matrix origin=o,key=ed25519:k', null],
    ['missing key', 'X-Matrix origin=o,sig=s', null],
    ['missing origin', 'X-Matrix key=ed25519:k,sig=s', null],
    ['empty origin', 'X-Matrix origin="",key=ed25519:k,sig=s', null],
    ['unterminated quote', 'X-Matrix origin="o,key=ed25519:k,sig=s', null],
    ['garbage after a quoted value', 'X-Matrix origin="o"x,key=ed25519:k,sig=s', null],
    ['parameter without =', 'X-Matrix origin,key=ed25519:k,sig=s', null],
    ['empty', '', null],
    ['scheme alone', 'X-Matrix', null],
  ];
  it.each(cases)('%s', (_name, header, expected) => {
    expect(parseXMatrixHeader(header)).toEqual(expected);
  });

  it('round-trips what formatXMatrixHeader writes', () => {
    expect(parseXMatrixHeader(formatXMatrixHeader(full))).toEqual(full);
  });
});

describe('signing requests', () => {
  const key = signingKeyFromSeed('1', Buffer.alloc(32, 7));

  it('signs {method, uri, origin, destination, content} with content only when there is a body', () => {
    expect(requestSigningObject({ method: 'GET', uri: '/a?b=c', origin: 'o', destination: 'd' })).toEqual({
      method: 'GET',
      uri: '/a?b=c',
      origin: 'o',
      destination: 'd',
    });
    expect(requestSigningObject({ method: 'PUT', uri: '/a', origin: 'o', destination: 'd', content: { x: 1 } })).toEqual({
      method: 'PUT',
      uri: '/a',
      origin: 'o',
      destination: 'd',
      content: { x: 1 },
    });
  });

  it('the signature is ed25519 over the canonical JSON of that object', () => {
    const req = { method: 'PUT', uri: '/_matrix/federation/v1/send/1?x=%20y', origin: 'o.example', destination: 'd.example', content: { b: 1, a: [] } };
    const header = signRequest(req, key);
    const parsed = parseXMatrixHeader(header)!;
    expect(parsed).toMatchObject({ origin: 'o.example', destination: 'd.example', key: 'ed25519:1' });
    const expectedSig = key.sign(Buffer.from(canonicalJson(requestSigningObject(req))));
    expect(parsed.sig).toBe(expectedSig);
  });

  it('verifies a good signature and refuses any change to what is covered', () => {
    const req = { method: 'POST', uri: '/_matrix/federation/v1/x?y=1', origin: 'o.example', destination: 'd.example', content: { k: 'v' } };
    const params = parseXMatrixHeader(signRequest(req, key))!;
    const base = { method: req.method, uri: req.uri, content: req.content };
    expect(verifyRequestSignature(base, params, 'd.example', key.publicKey)).toBe(true);
    expect(verifyRequestSignature({ ...base, method: 'PUT' }, params, 'd.example', key.publicKey)).toBe(false);
    expect(verifyRequestSignature({ ...base, uri: '/_matrix/federation/v1/x?y=2' }, params, 'd.example', key.publicKey)).toBe(false);
    expect(verifyRequestSignature({ ...base, uri: '/_matrix/federation/v1/x' }, params, 'd.example', key.publicKey)).toBe(false);
    expect(verifyRequestSignature({ ...base, content: { k: 'w' } }, params, 'd.example', key.publicKey)).toBe(false);
    expect(verifyRequestSignature({ method: req.method, uri: req.uri }, params, 'd.example', key.publicKey)).toBe(false);
    expect(verifyRequestSignature(base, params, 'other.example', key.publicKey)).toBe(false);
    expect(verifyRequestSignature(base, { ...params, origin: 'x.example' }, 'd.example', key.publicKey)).toBe(false);
    expect(verifyRequestSignature(base, params, 'd.example', generateSigningKey().publicKey)).toBe(false);
    expect(verifyRequestSignature(base, { ...params, sig: 'not base64!' }, 'd.example', key.publicKey)).toBe(false);
  });
});
