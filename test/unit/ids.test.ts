// Identifier grammar: server names, user IDs, room IDs, aliases, event IDs, the localpart mapping;
// the spec's identifier vectors (test/fixtures/test-vectors.json) plus table tests.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  fitsIdLength,
  isCompliantUserId,
  isValidEventId,
  isValidLocalpartForRegistration,
  isValidRoomAlias,
  isValidRoomId,
  isValidServerName,
  isValidUserId,
  mapToUserIdLocalpart,
  parseServerName,
  parseUserId,
  serverNameOf,
} from '../../src/core/ids.js';

interface Vector {
  name: string;
  category: string;
  input: string;
  expected: unknown;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/test-vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] };
const idVectors = fixture.vectors.filter((v) => v.category === 'identifier');

describe('identifier vectors', () => {
  it('has the 10 identifier vectors', () => expect(idVectors).toHaveLength(10));
  for (const v of idVectors.filter((x) => x.name.startsWith('server_name/'))) {
    it(v.name, () => expect(isValidServerName(v.input)).toBe((v.expected as { valid: boolean }).valid));
  }
  for (const v of idVectors.filter((x) => x.name.startsWith('user_id_mapping/'))) {
    // The `_a` / `__` examples are the case-preserving variant; the others do not involve case.
    it(v.name, () => expect(mapToUserIdLocalpart(v.input, true)).toBe(v.expected));
  }
});

describe('mapToUserIdLocalpart', () => {
  it('lower-cases without preserveCase, escapes `=` and bytes outside the allowed set', () => {
    expect(mapToUserIdLocalpart('Alice_B')).toBe('alice_b');
    expect(mapToUserIdLocalpart('a=b c:d')).toBe('a=3db=20c=3ad');
    expect(mapToUserIdLocalpart('x.y-z/1+2')).toBe('x.y-z/1+2');
    expect(mapToUserIdLocalpart('😀')).toBe('=f0=9f=98=80');
    expect(isValidLocalpartForRegistration(mapToUserIdLocalpart('Ünïcode Name!', true))).toBe(true);
  });
});

describe('parseServerName', () => {
  const ok: [string, { host: string; port?: number; kind: string }][] = [
    ['matrix.org', { host: 'matrix.org', kind: 'dns' }],
    ['matrix.org:8888', { host: 'matrix.org', port: 8888, kind: 'dns' }],
    ['localhost', { host: 'localhost', kind: 'dns' }],
    ['localhost:8448', { host: 'localhost', port: 8448, kind: 'dns' }],
    ['MATRIX.org', { host: 'MATRIX.org', kind: 'dns' }],
    ['1.2.3.4', { host: '1.2.3.4', kind: 'ipv4' }],
    ['1.2.3.4:1234', { host: '1.2.3.4', port: 1234, kind: 'ipv4' }],
    ['255.255.255.255:65535', { host: '255.255.255.255', port: 65535, kind: 'ipv4' }],
    ['[1234:5678::abcd]', { host: '1234:5678::abcd', kind: 'ipv6' }],
    ['[1234:5678::abcd]:5678', { host: '1234:5678::abcd', port: 5678, kind: 'ipv6' }],
    ['[::1]:1', { host: '::1', port: 1, kind: 'ipv6' }],
    ['[::ffff:1.2.3.4]', { host: '::ffff:1.2.3.4', kind: 'ipv6' }],
    ['a'.repeat(255), { host: 'a'.repeat(255), kind: 'dns' }],
  ];
  for (const [s, expected] of ok) it(`accepts ${s.slice(0, 40)}`, () => expect(parseServerName(s)).toEqual(expected));

  const bad = [
    '',
    ':8448',
    'matrix.org:',
    'matrix.org:0',
    'matrix.org:65536',
    'matrix.org:123456',
    'matrix.org:-1',
    'matrix.org:8a',
    'matrix.org:80:80',
    'matrix_org',
    'matrix.org/path',
    'mätrix.org',
    'matrix org',
    '1.2.3.256',
    '1.2.3.4:99999',
    '[1234:5678::abcd',
    '1234:5678::abcd',
    '[1234:5678::abcd]5678',
    '[1234:5678::abcd]:',
    '[1234:5678::abcd]:0',
    '[::g]',
    '[:::]',
    '[1.2.3.4]',
    '[fe80::1%eth0]',
    '[]',
    'a'.repeat(256),
  ];
  for (const s of bad) it(`rejects ${JSON.stringify(s.slice(0, 40))}`, () => expect(parseServerName(s)).toBeNull());
});

describe('user IDs', () => {
  it('splits at the first colon and keeps the port in the server name', () => {
    expect(parseUserId('@alice:localhost:8448')).toEqual({ localpart: 'alice', serverName: 'localhost:8448' });
    expect(parseUserId('@alice:[::1]:8448')).toEqual({ localpart: 'alice', serverName: '[::1]:8448' });
    expect(parseUserId('@a.b_c=d-e/f+g:example.org')).toEqual({ localpart: 'a.b_c=d-e/f+g', serverName: 'example.org' });
  });

  it('accepts historical localparts when receiving (spec "Historical User IDs")', () => {
    for (const s of ['@Alice:example.org', '@a!b#c:example.org', '@:example.org', '@ünï:example.org', '@a b\u0001:example.org']) {
      expect(isValidUserId(s)).toBe(true);
    }
  });

  it('rejects what no user ID may be', () => {
    for (const s of [
      'alice:example.org', // no sigil
      '#alice:example.org',
      '@alice', // no server
      '@alice:', // empty server
      '@alice:bad_server',
      '@alice:example.org:0',
      '@a\u0000b:example.org', // NUL
      '@a\ud800:example.org', // lone surrogate
      `@${'a'.repeat(243)}:example.org`, // 256 bytes
    ]) {
      expect(isValidUserId(s), s).toBe(false);
    }
    expect(isValidUserId(`@${'a'.repeat(242)}:example.org`)).toBe(true); // exactly 255 bytes
    expect(isValidUserId(`@${'é'.repeat(121)}:example.org`)).toBe(true); // 255 bytes
    expect(isValidUserId(`@${'é'.repeat(122)}:example.org`)).toBe(false); // 257 bytes, only 135 chars
  });

  it('tells compliant from merely accepted user IDs', () => {
    expect(isCompliantUserId('@Alice!:example.org')).toBe(true);
    expect(isCompliantUserId('@:example.org')).toBe(false);
    expect(isCompliantUserId('@ünï:example.org')).toBe(false);
    expect(isCompliantUserId('@a b:example.org')).toBe(false);
  });

  it('checks the strict grammar for registration', () => {
    for (const s of ['alice', 'a.b_c=d-e/f+g', '0', '_']) expect(isValidLocalpartForRegistration(s), s).toBe(true);
    for (const s of ['', 'Alice', 'a b', 'a:b', 'é', 'a#b', 'a*b']) expect(isValidLocalpartForRegistration(s), s).toBe(false);
  });
});

describe('room IDs, aliases, event IDs', () => {
  const v12Room = '!WvDtsLpgNoYoFBSV1bo7AlqByvuqmohnhwbrbPuICt4';
  const v4Event = '$oFAil2fHTGY66j9PIsC3hnc-_6r2SQGxCzd1_FUgtOE';
  const v3Event = '$oFAil2fHTGY66j9PIsC3hnc+/6r2SQGxCzd1/FUgtOE';

  it('room IDs of both forms, optionally restricted to one', () => {
    expect(isValidRoomId('!abc:example.org')).toBe(true);
    expect(isValidRoomId('!abc:example.org:8448')).toBe(true);
    expect(isValidRoomId(v12Room)).toBe(true);
    expect(isValidRoomId(v12Room, true)).toBe(true);
    expect(isValidRoomId(v12Room, false)).toBe(false);
    expect(isValidRoomId('!abc:example.org', true)).toBe(false);
    expect(isValidRoomId('!abc:example.org', false)).toBe(true);
    for (const s of ['!abc', '!' + 'A'.repeat(42), '!' + 'A'.repeat(44), '!' + 'A+'.repeat(21) + 'A', 'abc:example.org', '$abc:example.org', '!a:bad_host', `!${'a'.repeat(250)}:example.org`]) {
      expect(isValidRoomId(s), s).toBe(false);
    }
  });

  it('aliases', () => {
    expect(isValidRoomAlias('#room:example.org')).toBe(true);
    expect(isValidRoomAlias('#ünï code:example.org:8448')).toBe(true);
    for (const s of ['#room', 'room:example.org', '#room:', '#r\u0000:example.org', `#${'a'.repeat(250)}:example.org`]) {
      expect(isValidRoomAlias(s), s).toBe(false);
    }
  });

  it('event IDs of every format, optionally restricted to one', () => {
    expect(isValidEventId('$abc:example.org')).toBe(true);
    expect(isValidEventId(v3Event)).toBe(true);
    expect(isValidEventId(v4Event)).toBe(true);
    expect(isValidEventId('$abc:example.org', 'v1')).toBe(true);
    expect(isValidEventId(v3Event, 'v3')).toBe(true);
    expect(isValidEventId(v3Event, 'v4')).toBe(false);
    expect(isValidEventId(v4Event, 'v3')).toBe(false);
    expect(isValidEventId(v4Event, 'v4')).toBe(true);
    expect(isValidEventId(v4Event, 'v1')).toBe(false);
    expect(isValidEventId('$abc:example.org', 'v4')).toBe(false);
    for (const s of ['$abc', '$' + 'A'.repeat(42), '!' + 'A'.repeat(43), '$a:bad_host', '', '$']) expect(isValidEventId(s), s).toBe(false);
  });

  it('serverNameOf', () => {
    expect(serverNameOf('@alice:localhost:8448')).toBe('localhost:8448');
    expect(serverNameOf('#room:example.org')).toBe('example.org');
    expect(serverNameOf('!old:example.org')).toBe('example.org');
    expect(serverNameOf('$ev:[::1]:80')).toBe('[::1]:80');
    expect(serverNameOf(v12Room)).toBeUndefined();
    expect(serverNameOf(v3Event)).toBeUndefined();
    expect(serverNameOf(v4Event)).toBeUndefined();
    expect(serverNameOf('alice:example.org')).toBeUndefined();
    expect(serverNameOf('@alice:bad_host')).toBeUndefined();
  });

  it('fitsIdLength counts UTF-8 bytes', () => {
    expect(fitsIdLength('a'.repeat(255))).toBe(true);
    expect(fitsIdLength('a'.repeat(256))).toBe(false);
    expect(fitsIdLength('€'.repeat(85))).toBe(true); // 255 bytes
    expect(fitsIdLength('€'.repeat(86))).toBe(false); // 258 bytes, 86 chars
  });
});
