// Configuration: defaults, a Synapse-style homeserver.yaml, errors that name the key, units, and
// the example file staying in step with the schema.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { renderConfigYaml } from '../../src/config/example.js';
import { ConfigError, formatConfigError, loadConfigFile, parseConfig, parseConfigYaml } from '../../src/config/load.js';
import { z } from 'zod';
import { buildConfigSchema, DEFAULT_IP_RANGE_BLACKLIST, expandResources } from '../../src/config/schema.js';
import { parseDuration, parseSize } from '../../src/config/units.js';
import { DEFAULT_ROOM_VERSION } from '../../src/core/events/room-versions.js';

const CWD = '/srv/hs';
const configSchema = buildConfigSchema(z);

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('defaults', () => {
  it('with no file: localhost:8008 on 127.0.0.1:8008, everything under ./data', () => {
    const { config, warnings } = parseConfig(undefined, { cwd: CWD });
    expect(warnings).toEqual([]);
    expect(config.server_name).toBe('localhost:8008');
    expect(config.listeners).toEqual([
      {
        port: 8008,
        bind_addresses: ['127.0.0.1'],
        tls: false,
        type: 'http',
        x_forwarded: false,
        resources: [{ names: ['client', 'federation'] }],
        mounts: ['client', 'federation', 'keys', 'media', 'health'],
      },
    ]);
    expect(config.database).toEqual({ name: 'sqlite3', args: { database: '/srv/hs/data/homeserver.db' } });
    expect(config.signing_key_path).toBe('/srv/hs/data/signing.key');
    expect(config.media_store_path).toBe('/srv/hs/data/media_store');
    expect(config.old_signing_keys).toEqual({});
    expect(config.key_refresh_interval).toBe(86_400_000);
    expect(config.max_upload_size).toBe(50 * 1024 * 1024);
    expect(config.enable_registration).toBe(false);
    expect(config.registration_shared_secret).toBeUndefined();
    expect(config.allow_guest_access).toBe(false);
    expect(config.default_room_version).toBe(DEFAULT_ROOM_VERSION);
    expect(config.federation_verify_certificates).toBe(true);
    expect(config.trusted_key_servers).toEqual([]);
    expect(config.ip_range_blacklist).toEqual(DEFAULT_IP_RANGE_BLACKLIST);
    expect(config.ip_range_whitelist).toEqual([]);
    expect(config.rate_limiting).toBe(true);
    expect(config.log_level).toBe('info');
    expect(config.tls_certificate_path).toBeUndefined();
  });

  it('an empty file and a file of nulls give the defaults', () => {
    const empty = parseConfigYaml('', 'empty.yaml', { cwd: CWD }).config;
    const nulls = parseConfigYaml('server_name:\nmax_upload_size:\nlisteners:\n', 'nulls.yaml', { cwd: CWD }).config;
    const defaults = parseConfig(undefined, { cwd: CWD }).config;
    expect(empty).toEqual(defaults);
    expect(nulls).toEqual(defaults);
  });

  it('resolves relative paths against the working directory and keeps absolute ones and :memory:', () => {
    const { config } = parseConfig(
      { database: { args: { database: ':memory:' } }, signing_key_path: 'keys/k', media_store_path: '/var/media' },
      { cwd: CWD },
    );
    expect(config.database.args.database).toBe(':memory:');
    expect(config.signing_key_path).toBe('/srv/hs/keys/k');
    expect(config.media_store_path).toBe('/var/media');
  });

  it('a listener without bind_addresses binds every address, as in Synapse', () => {
    const { config } = parseConfig({ listeners: [{ port: 8448, resources: [{ names: ['federation'] }] }] });
    expect(config.listeners[0]!.bind_addresses).toEqual(['::', '0.0.0.0']);
    expect(config.listeners[0]!.mounts).toEqual(['federation', 'keys', 'media', 'health']);
  });
});

// Written in the shape Synapse's generate-config produces, plus settings operators commonly add.
const SYNAPSE_HOMESERVER_YAML = `
# Configuration file for Synapse.
server_name: "example.org"
pid_file: /data/homeserver.pid
public_baseurl: https://matrix.example.org
listeners:
  - port: 8008
    tls: false
    type: http
    x_forwarded: true
    bind_addresses: ['::1', '127.0.0.1']
    resources:
      - names: [client, federation]
        compress: false
  - port: 8448
    tls: true
    type: http
    resources:
      - names: [federation, openid]
  - port: 9000
    type: metrics
    bind_addresses: ['127.0.0.1']
  - port: 9001
    type: manhole
tls_certificate_path: /data/example.org.tls.crt
tls_private_key_path: /data/example.org.tls.key
database:
  name: sqlite3
  args:
    database: /data/homeserver.db
log_config: "/data/example.org.log.config"
media_store_path: /data/media_store
registration_shared_secret: "s3cret-shared"
report_stats: false
macaroon_secret_key: "mac-secret"
form_secret: "form-secret"
signing_key_path: "/data/example.org.signing.key"
old_signing_keys:
  "ed25519:id1": {key: "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ", expired_ts: 1576767829750}
key_refresh_interval: 2h
trusted_key_servers:
  - server_name: "matrix.org"
    verify_keys:
      "ed25519:auto": "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"
enable_registration: yes
enable_registration_without_verification: true
max_upload_size: 100M
default_room_version: 10
ip_range_whitelist: ['127.0.0.1', '::1/128']
federation_verify_certificates: false
allow_guest_access: false
opentracing:
  enabled: false
`;

describe('a Synapse homeserver.yaml', () => {
  it('loads, warning once for each key we do not know or support', () => {
    const { config, warnings } = parseConfigYaml(SYNAPSE_HOMESERVER_YAML, 'homeserver.yaml');
    // Keys of Synapse's that this server will never read.
    for (const key of ['pid_file', 'report_stats', 'macaroon_secret_key', 'form_secret', 'opentracing']) {
      expect(warnings).toContain(`unknown config key "${key}" ignored`);
    }
    expect(warnings).toContain('log_config is not supported (set log_level instead); ignored');
    expect(warnings).toContain('listeners.3: listener type "manhole" is not supported; this listener is skipped');
    expect(warnings).toContain('listeners.1.resources.0.names: resource "openid" is not supported; ignored');
    // Exactly one warning per top-level key the schema lacks (the schema grows as features land),
    // plus the two listener warnings.
    const topLevel = Object.keys(parseYaml(SYNAPSE_HOMESERVER_YAML) as object);
    const unknown = topLevel.filter((k) => !Object.hasOwn(configSchema.shape, k));
    expect(warnings).toHaveLength(unknown.length + 2);
    expect(new Set(warnings).size).toBe(warnings.length);

    expect(config.server_name).toBe('example.org');
    expect(config.public_baseurl).toBe('https://matrix.example.org/');
    expect(config.listeners).toHaveLength(3);
    expect(config.listeners[0]).toMatchObject({ port: 8008, x_forwarded: true, bind_addresses: ['::1', '127.0.0.1'], tls: false });
    expect(config.listeners[1]).toMatchObject({ port: 8448, tls: true, bind_addresses: ['::', '0.0.0.0'], mounts: ['federation', 'keys', 'media', 'health'] });
    expect(config.listeners[2]).toMatchObject({ port: 9000, type: 'metrics', mounts: ['health', 'metrics'] });
    expect(config.database.args.database).toBe('/data/homeserver.db');
    expect(config.registration_shared_secret).toBe('s3cret-shared');
    expect(config.old_signing_keys).toEqual({
      'ed25519:id1': { key: 'l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ', expired_ts: 1576767829750 },
    });
    expect(config.key_refresh_interval).toBe(2 * 3600 * 1000);
    expect(config.trusted_key_servers).toEqual([
      { server_name: 'matrix.org', verify_keys: { 'ed25519:auto': 'Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw' }, accept_keys_insecurely: false },
    ]);
    // YAML 1.1, as PyYAML reads it: "yes" is true.
    expect(config.enable_registration).toBe(true);
    expect(config.max_upload_size).toBe(100 * 1024 * 1024);
    expect(config.default_room_version).toBe('10');
    expect(config.ip_range_whitelist).toEqual(['127.0.0.1', '::1/128']);
    expect(config.federation_verify_certificates).toBe(false);
  });

  it('warns about unknown keys nested in known sections, naming the full path', () => {
    const { warnings } = parseConfig({
      database: { name: 'sqlite3', cp_min: 5, args: { database: 'x.db', check_same_thread: false } },
      listeners: [{ port: 8008, bind_address: '0.0.0.0', resources: [{ names: ['client'], extra: 1 }] }],
    });
    expect(warnings).toEqual([
      'unknown config key "database.cp_min" ignored',
      'unknown config key "database.args.check_same_thread" ignored',
      'unknown config key "listeners.0.bind_address" ignored',
      'unknown config key "listeners.0.resources.0.extra" ignored',
    ]);
  });
});

describe('invalid values name the key and the problem', () => {
  it.each([
    [{ listeners: [{ port: 0 }] }, 'listeners.0.port: expected a number from 1 to 65535'],
    [{ listeners: [{ port: 8008 }, { port: 70000 }] }, 'listeners.1.port: expected a number from 1 to 65535'],
    [{ listeners: [{ port: '8008' }] }, 'listeners.0.port: expected a number from 1 to 65535'],
    [{ listeners: [{ port: 8008, type: 'htp' }] }, 'listeners.0.type: expected one of http, metrics, got "htp"'],
    [{ listeners: [{ port: 8008, bind_addresses: ['localhost'] }] }, 'listeners.0.bind_addresses.0: expected an IP address, got "localhost"'],
    [{ listeners: [{ port: 8008, tls: 'yes please' }] }, 'listeners.0.tls: expected true or false'],
    [{ listeners: 'all' }, 'listeners: expected a list of listeners'],
    [{ server_name: 'not a name' }, 'server_name: expected a server name such as "example.org" or "localhost:8008", got "not a name"'],
    [{ database: { name: 'psycopg2' } }, 'database.name: only "sqlite3" is supported (PostgreSQL is not available yet)'],
    [{ database: { name: 'mysql' } }, 'database.name: expected "sqlite3"'],
    [{ database: { args: { database: '' } } }, 'database.args.database: expected a file path, got an empty string'],
    [{ key_refresh_interval: 'soon' }, 'key_refresh_interval: expected a duration such as "1d", "2h", "30m" or a number of milliseconds, got "soon"'],
    [{ max_upload_size: '10Q' }, 'max_upload_size: expected a size such as "50M", "512K" or a number of bytes, got "10Q"'],
    [{ default_room_version: '99' }, 'default_room_version: unsupported room version "99"'],
    [{ log_level: 'loud' }, 'log_level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"'],
    [{ enable_registration: 'maybe' }, 'enable_registration: expected true or false'],
    [{ old_signing_keys: { 'rsa:1': { key: 'l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ', expired_ts: 1 } } }, 'old_signing_keys.rsa:1: expected a key ID such as "ed25519:old"'],
    [{ old_signing_keys: { 'ed25519:a': { key: 'short', expired_ts: 1 } } }, 'old_signing_keys.ed25519:a.key: expected an unpadded base64 ed25519 public key (32 bytes)'],
    [{ ip_range_blacklist: ['10.0.0.0/33'] }, 'ip_range_blacklist.0: expected an IP address or range such as "10.0.0.0/8", got "10.0.0.0/33"'],
    [{ public_baseurl: 'matrix.example.org' }, 'public_baseurl: expected an http(s) URL such as "https://matrix.example.org/"'],
    [{ trusted_key_servers: [{ server_name: 'has space' }] }, 'trusted_key_servers.0.server_name: expected a server name such as "matrix.org"'],
    [{ listeners: [{ port: 8448, tls: true }] }, 'tls_certificate_path: required when a listener has tls: true'],
  ])('%j -> %s', (raw, message) => {
    const e = errorOf(() => parseConfig(raw));
    expect(formatConfigError(e).split('\n')).toContain(`config error: ${message}`);
  });

  it('a mapping is required at the top level', () => {
    expect(formatConfigError(errorOf(() => parseConfigYaml('- a\n- b\n', 'list.yaml')))).toBe(
      'config error: the configuration must be a YAML mapping of keys to values',
    );
  });

  it('YAML syntax errors and duplicate keys name the file', () => {
    expect(formatConfigError(errorOf(() => parseConfigYaml('listeners: [', 'bad.yaml')))).toMatch(/^config error: bad\.yaml: invalid YAML: /);
    expect(formatConfigError(errorOf(() => parseConfigYaml('a: 1\na: 2\n', 'dup.yaml')))).toMatch(/^config error: dup\.yaml: invalid YAML: .*unique/i);
  });

  it('a missing file is an error naming the file', () => {
    expect(formatConfigError(errorOf(() => loadConfigFile('/nonexistent/homeserver.yaml')))).toBe(
      'config error: cannot read /nonexistent/homeserver.yaml: no such file',
    );
  });
});

describe('units', () => {
  it.each([
    ['1d', 86_400_000], ['2h', 7_200_000], ['30m', 1_800_000], ['10s', 10_000], ['500ms', 500], ['1w', 604_800_000],
    ['1y', 31_536_000_000], ['250', 250], [1234, 1234], ['', undefined], ['1.5h', undefined], ['-1d', undefined],
    ['1x', undefined], [-5, undefined], [1.5, undefined],
  ] as const)('parseDuration(%j) = %j', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([
    ['50M', 52_428_800], ['512K', 524_288], ['1G', 1_073_741_824], ['2T', 2 * 1024 ** 4], ['10m', 10_485_760],
    ['100MB', 104_857_600], ['1000', 1000], [2048, 2048], ['1.5M', undefined], ['M', undefined], ['5P', undefined],
  ] as const)('parseSize(%j) = %j', (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });
});

describe('expandResources', () => {
  it('applies the implications Synapse has', () => {
    expect(expandResources('http', [])).toEqual(['health']);
    expect(expandResources('http', ['client'])).toEqual(['client', 'media', 'health']);
    expect(expandResources('http', ['keys'])).toEqual(['keys', 'health']);
    expect(expandResources('http', ['metrics', 'client'])).toEqual(['client', 'media', 'health', 'metrics']);
    expect(expandResources('metrics', ['client'])).toEqual(['health', 'metrics']);
  });
});

describe('config.example.yaml', () => {
  const exampleText = readFileSync(new URL('../../config.example.yaml', import.meta.url), 'utf8');

  it('is exactly what renderConfigYaml() produces', () => {
    // To regenerate after changing src/config/example.ts:
    // npx tsx -e "import('./src/config/example.ts').then(m => process.stdout.write(m.renderConfigYaml()))" > config.example.yaml
    expect(exampleText).toBe(renderConfigYaml());
  });

  it('loads without warnings to exactly the defaults', () => {
    const fromExample = parseConfigYaml(exampleText, 'config.example.yaml', { cwd: CWD });
    expect(fromExample.warnings).toEqual([]);
    expect(fromExample.config).toEqual(parseConfig(undefined, { cwd: CWD }).config);
  });

  it('documents every key of the schema with a comment', () => {
    const lines = exampleText.split('\n');
    for (const key of Object.keys(configSchema.shape)) {
      const at = lines.findIndex((l) => l.startsWith(`${key}:`) || l.startsWith(`#${key}:`));
      expect(at, `${key} is in config.example.yaml`).toBeGreaterThan(0);
      // The line above the key (or above its first example) is a comment.
      expect(lines[at - 1]!.startsWith('#'), `${key} has a comment above it`).toBe(true);
    }
  });

  it('its commented-out examples are valid settings', () => {
    // Uncomment the example blocks (lines "#key: ..." and their "#  ..." continuation lines).
    const lines = exampleText.split('\n');
    const out: string[] = [];
    let inExample = false;
    for (const l of lines) {
      if (/^#[a-z_]+:/.test(l)) {
        inExample = true;
        out.push(l.slice(1));
      } else if (inExample && /^#\s+\S/.test(l) && !/^#\s+[A-Za-z"].* [a-z]+ [a-z]+/.test(l)) {
        out.push(l.slice(1));
      } else {
        inExample = false;
        if (!l.startsWith('#')) out.push(l);
      }
    }
    // Drop the active keys that the examples redefine, then load the rest.
    const yaml = out.join('\n').replace(/^old_signing_keys: \{\}\n/m, '').replace(/^trusted_key_servers: \[\]\n/m, '');
    const { config, warnings } = parseConfigYaml(yaml, 'uncommented example', { cwd: CWD });
    expect(warnings).toEqual([]);
    expect(config.public_baseurl).toBe('https://matrix.example.org/');
    expect(config.registration_shared_secret).toBe('a long random string');
    expect(config.tls_certificate_path).toBe('/srv/hs/data/tls.crt');
    expect(Object.keys(config.old_signing_keys)).toEqual(['ed25519:previous']);
    expect(config.trusted_key_servers[0]!.server_name).toBe('matrix.org');
    expect(config.federation_custom_ca_list).toEqual(['/etc/ssl/private-ca.pem']);
  });

  it('generate-config output with a server name, data dir and secret loads as given', () => {
    const text = renderConfigYaml({ serverName: 'example.org', dataDir: '/data/', bindAddress: '0.0.0.0', registrationSharedSecret: 'xyz' });
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'homeserver.yaml');
    writeFileSync(file, text);
    const { config, warnings } = loadConfigFile(file);
    expect(warnings).toEqual([]);
    expect(config.server_name).toBe('example.org');
    expect(config.database.args.database).toBe('/data/homeserver.db');
    expect(config.signing_key_path).toBe('/data/signing.key');
    expect(config.media_store_path).toBe('/data/media_store');
    expect(config.listeners[0]!.bind_addresses).toEqual(['0.0.0.0']);
    expect(config.registration_shared_secret).toBe('xyz');
  });
});
