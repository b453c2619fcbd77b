// The zod schema of the configuration file: the one source of validation and defaults. Key names
// follow Synapse's homeserver.yaml wherever the concept is the same, so operators can reuse theirs.
import { isIP } from 'node:net';
import type { z } from 'zod';

/** zod's `z` namespace, passed to buildConfigSchema (only the type is imported here). */
export type ZodNamespace = typeof z;
import { decodeBase64 } from '../core/json/base64.js';
import { DEFAULT_ROOM_VERSION, getRoomVersion } from '../core/events/room-versions.js';
import { parseDuration, parseSize } from './units.js';

/** Resource names a listener can serve (Synapse's names, plus `health` and `metrics`). */
export const RESOURCE_NAMES = ['client', 'federation', 'keys', 'media', 'health', 'metrics'] as const;
export type ResourceName = (typeof RESOURCE_NAMES)[number];

/** Synapse resource names we recognise but do not serve; they are warned about and ignored. */
export const UNSUPPORTED_SYNAPSE_RESOURCES = ['openid', 'replication', 'static', 'webclient', 'consent'] as const;

/** Listener types: `http` serves resources; `metrics` is Synapse's dedicated metrics listener. */
export const LISTENER_TYPES = ['http', 'metrics'] as const;
/** Synapse listener types we do not implement; such listeners are warned about and skipped. */
export const UNSUPPORTED_LISTENER_TYPES = ['manhole', 'replication'] as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Synapse's default for `ip_range_blacklist`: private, loopback, link-local and reserved ranges. */
export const DEFAULT_IP_RANGE_BLACKLIST: readonly string[] = [
  '127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '192.0.0.0/24',
  '169.254.0.0/16', '192.88.99.0/24', '198.18.0.0/15', '192.0.2.0/24', '198.51.100.0/24',
  '203.0.113.0/24', '224.0.0.0/4', '::1/128', 'fe80::/10', 'fc00::/7', '2001:db8::/32', 'ff00::/8',
  'fec0::/10',
];

/** Synapse's default `thumbnail_sizes` (also the spec's suggested list, "Thumbnails"). */
export const DEFAULT_THUMBNAIL_SIZES: readonly { width: number; height: number; method: 'crop' | 'scale' }[] = [
  { width: 32, height: 32, method: 'crop' },
  { width: 96, height: 96, method: 'crop' },
  { width: 320, height: 240, method: 'scale' },
  { width: 640, height: 480, method: 'scale' },
  { width: 800, height: 600, method: 'scale' },
];

/** The parts of a URL a `url_preview_url_blacklist` entry can match (Python's urlsplit names, as Synapse). */
export const URL_PREVIEW_BLACKLIST_FIELDS = ['scheme', 'netloc', 'hostname', 'port', 'path', 'query', 'fragment', 'username', 'password'] as const;

// Server name grammar (spec appendix "Server Name"): hostname [":" port], where hostname is an IPv4
// literal, a bracketed IPv6 literal or a DNS name of at most 255 characters.
const SERVER_NAME_RE = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(?::[0-9]{1,5})?$/;
const KEY_ID_RE = /^ed25519:[A-Za-z0-9_]+$/;

/**
 * Builds the configuration schema from a zod namespace the caller passes in. load.ts loads zod
 * only while a configuration is read and lets it be collected afterwards (see releaseConfigLibraries),
 * so no schema object may outlive the call: nothing here is kept at module level.
 */
export function buildConfigSchema(z: ZodNamespace) {
  const PORT_MESSAGE = 'expected a number from 1 to 65535';
  const port = z
    .number({ error: PORT_MESSAGE })
    .int({ error: PORT_MESSAGE })
    .min(1, { error: PORT_MESSAGE })
    .max(65535, { error: PORT_MESSAGE });

  const nonEmptyString = (what: string) =>
    z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}, got an empty string` });
  const bool = z.boolean({ error: 'expected true or false' });

  const duration = z
    .union([z.number(), z.string()], { error: 'expected a duration such as "1d", "2h", "30m" or a number of milliseconds' })
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.issues.push({ code: 'custom', input: v, message: `expected a duration such as "1d", "2h", "30m" or a number of milliseconds, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return ms;
    });

  const size = z
    .union([z.number(), z.string()], { error: 'expected a size such as "50M", "512K" or a number of bytes' })
    .transform((v, ctx) => {
      const bytes = parseSize(v);
      if (bytes === undefined) {
        ctx.issues.push({ code: 'custom', input: v, message: `expected a size such as "50M", "512K" or a number of bytes, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return bytes;
    });

  const cidr = z.string({ error: 'expected an IP range such as "10.0.0.0/8"' }).refine(isCidr, {
    error: (iss) => `expected an IP address or range such as "10.0.0.0/8", got ${JSON.stringify(iss.input)}`,
  });


  const unpaddedEd25519Key = z.string({ error: 'expected an unpadded base64 ed25519 public key' }).refine(
    (s) => {
      try {
        return decodeBase64(s).length === 32;
      } catch {
        return false;
      }
    },
    { error: 'expected an unpadded base64 ed25519 public key (32 bytes)' },
  );

  /** One Synapse rate limiter: `per_second` actions on average, bursts of up to `burst_count`. */
  const rateLimitSettings = (perSecond: number, burstCount: number) =>
    z
      .object(
        {
          per_second: z.number({ error: 'expected a number of actions per second' }).nonnegative({ error: 'expected a number >= 0' }).default(perSecond),
          burst_count: z.number({ error: 'expected a number of actions' }).nonnegative({ error: 'expected a number >= 0' }).default(burstCount),
        },
        { error: 'expected a mapping such as {per_second: 0.2, burst_count: 10}' },
      )
      .prefault({});

  const resourceSchema = z.object({
    /** Resource names; unknown names are warned about by the loader and dropped here. */
    names: z.array(z.string({ error: 'expected a resource name' }), { error: 'expected a list of resource names' }).default([]),
    /** Accepted for Synapse compatibility; responses are not compressed. */
    compress: bool.optional(),
  });

  const listenerSchema = z.object({
    port,
    /** Synapse's default when omitted: every IPv6 and IPv4 address. */
    bind_addresses: z
      .array(z.string().refine((s) => isIP(s) !== 0, { error: (iss) => `expected an IP address, got ${JSON.stringify(iss.input)}` }), {
        error: 'expected a list of IP addresses',
      })
      .min(1, { error: 'expected at least one address' })
      .default(['::', '0.0.0.0']),
    tls: bool.default(false),
    type: z
      .enum([...LISTENER_TYPES, ...UNSUPPORTED_LISTENER_TYPES], {
        error: (iss) => `expected one of ${LISTENER_TYPES.join(', ')}, got ${JSON.stringify(iss.input)}`,
      })
      .default('http'),
    /** Trust X-Forwarded-For / X-Forwarded-Proto from a reverse proxy in front of this listener. */
    x_forwarded: bool.default(false),
    resources: z.array(resourceSchema, { error: 'expected a list of {names: [...]}' }).default([]),
  });

  const databaseSchema = z.object({
    name: z.enum(['sqlite3', 'psycopg2'], { error: 'expected "sqlite3"' }).default('sqlite3').refine((n) => n === 'sqlite3', {
      error: 'only "sqlite3" is supported (PostgreSQL is not available yet)',
    }),
    args: z
      .object({
        database: nonEmptyString('a file path').default('./data/homeserver.db'),
      })
      .prefault({}),
  });

  const trustedKeyServerSchema = z.object({
    server_name: z.string({ error: 'expected a server name' }).regex(SERVER_NAME_RE, { error: 'expected a server name such as "matrix.org"' }),
    verify_keys: z
      .record(z.string().regex(KEY_ID_RE, { error: 'expected a key ID such as "ed25519:auto"' }), unpaddedEd25519Key)
      .optional(),
    accept_keys_insecurely: bool.default(false),
  });

  const oldSigningKeySchema = z.object({
    key: unpaddedEd25519Key,
    expired_ts: z.number({ error: 'expected a timestamp in milliseconds' }).int({ error: 'expected a timestamp in milliseconds' }).nonnegative(),
  });

  return z
    .object({
      server_name: z
        .string({ error: 'expected a server name such as "example.org"' })
        .regex(SERVER_NAME_RE, { error: (iss) => `expected a server name such as "example.org" or "localhost:8008", got ${JSON.stringify(iss.input)}` })
        .default('localhost:8008'),
      public_baseurl: z
        .url({ protocol: /^https?$/, error: 'expected an http(s) URL such as "https://matrix.example.org/"' })
        .transform((u) => (u.endsWith('/') ? u : u + '/'))
        .optional(),
      listeners: z
        .array(listenerSchema, { error: 'expected a list of listeners' })
        .default([
          {
            port: 8008,
            bind_addresses: ['127.0.0.1'],
            tls: false,
            type: 'http',
            x_forwarded: false,
            resources: [{ names: ['client', 'federation'] }],
          },
        ]),
      tls_certificate_path: nonEmptyString('a file path').optional(),
      tls_private_key_path: nonEmptyString('a file path').optional(),
      database: databaseSchema.prefault({}),
      signing_key_path: nonEmptyString('a file path').default('./data/signing.key'),
      old_signing_keys: z
        .record(z.string().regex(KEY_ID_RE, { error: 'expected a key ID such as "ed25519:old"' }), oldSigningKeySchema, {
          // Only for a non-map value; a bad key ID keeps the key schema's message.
          error: (iss) => (iss.code === 'invalid_type' ? 'expected a map of key ID to {key, expired_ts}' : undefined),
        })
        .default({}),
      key_refresh_interval: duration.prefault('1d'),
      media_store_path: nonEmptyString('a folder path').default('./data/media_store'),
      max_upload_size: size.prefault('50M'),
      /** Synapse: images with more pixels than this are not thumbnailed (413 M_TOO_LARGE). */
      max_image_pixels: size.prefault('32M'),
      /** Synapse: the thumbnail sizes served; without dynamic_thumbnails a request gets the closest of them. */
      thumbnail_sizes: z
        .array(
          z.object({
            width: z.number({ error: 'expected a width in pixels' }).int().min(1).max(10_000),
            height: z.number({ error: 'expected a height in pixels' }).int().min(1).max(10_000),
            method: z.enum(['crop', 'scale'], { error: 'expected "crop" or "scale"' }),
          }),
          { error: 'expected a list of {width, height, method}' },
        )
        .min(1, { error: 'expected at least one thumbnail size' })
        .default(DEFAULT_THUMBNAIL_SIZES.map((t) => ({ ...t }))),
      /** Synapse: generate thumbnails of exactly the requested size instead of picking a configured one. */
      dynamic_thumbnails: bool.default(false),
      /** Synapse: how long an mxc URI from POST /media/v1/create waits for its upload. */
      unused_expiration_time: duration.prefault('24h'),
      /** Synapse: how many created-but-not-uploaded mxc URIs a user may hold (429 beyond). */
      max_pending_media_uploads: z.number({ error: 'expected a number' }).int().min(1).default(5),
      /**
       * Synapse's key, with another default: true "freezes" the legacy unauthenticated
       * /_matrix/media/v3/download and /thumbnail for media uploaded from then on (spec v1.11
       * "Client behaviour"); false (ours) keeps serving them, since some clients still use them.
       */
      enable_authenticated_media: bool.default(false),
      /** Synapse: serve GET /preview_url (off by default: the server fetches URLs clients send it). */
      url_preview_enabled: bool.default(false),
      /** Addresses the URL previewer never connects to (0.0.0.0 and :: always). Synapse requires it; ours defaults to ip_range_blacklist's list. */
      url_preview_ip_range_blacklist: z.array(cidr, { error: 'expected a list of IP ranges' }).default([...DEFAULT_IP_RANGE_BLACKLIST]),
      /** Addresses the URL previewer may reach even though they are blacklisted. */
      url_preview_ip_range_whitelist: z.array(cidr, { error: 'expected a list of IP ranges' }).default([]),
      /** Synapse: URLs never previewed; each entry matches when all its fields match (glob, or regex when starting with ^). */
      url_preview_url_blacklist: z
        .array(z.partialRecord(z.enum(URL_PREVIEW_BLACKLIST_FIELDS), z.string()), { error: 'expected a list of {netloc: "...", ...} entries' })
        .default([]),
      /** Synapse: Accept-Language sent when fetching previews. */
      url_preview_accept_language: z.array(nonEmptyString('a language tag'), { error: 'expected a list of language tags' }).default(['en']),
      /** Synapse: largest page or image the URL previewer downloads. */
      max_spider_size: size.prefault('10M'),
      enable_registration: bool.default(false),
      registration_shared_secret: nonEmptyString('a secret string').optional(),
      allow_guest_access: bool.default(false),
      default_room_version: z
        .union([z.string(), z.number()], { error: 'expected a room version such as "10"' })
        .transform(String)
        .refine((v) => getRoomVersion(v) !== undefined, { error: (iss) => `unsupported room version ${JSON.stringify(iss.input)}` })
        .default(DEFAULT_ROOM_VERSION),
      federation_verify_certificates: bool.default(true),
      /** Synapse: send events and EDUs to other servers (false: this process never sends any). */
      send_federation: bool.default(true),
      federation_custom_ca_list: z.array(nonEmptyString('a file path'), { error: 'expected a list of file paths' }).optional(),
      trusted_key_servers: z.array(trustedKeyServerSchema, { error: 'expected a list of {server_name: ...}' }).default([]),
      ip_range_blacklist: z.array(cidr, { error: 'expected a list of IP ranges' }).default([...DEFAULT_IP_RANGE_BLACKLIST]),
      ip_range_whitelist: z.array(cidr, { error: 'expected a list of IP ranges' }).default([]),
      /** Synapse's `presence` section: `enabled: false` keeps the endpoints answering but tracks and broadcasts nothing. */
      presence: z.object({ enabled: bool.default(true) }, { error: 'expected a mapping such as {enabled: true}' }).prefault({}),
      /** Ours: `false` turns every rate limit off (tests, benchmarks). */
      rate_limiting: bool.default(true),
      /** Synapse's rate limits (per_second, burst_count), applied per user or per client address. */
      rc_message: rateLimitSettings(0.2, 10),
      rc_registration: rateLimitSettings(0.17, 3),
      rc_login: z
        .object(
          { address: rateLimitSettings(0.003, 5), account: rateLimitSettings(0.003, 5), failed_attempts: rateLimitSettings(0.17, 3) },
          { error: 'expected a mapping with address, account and failed_attempts' },
        )
        .prefault({}),
      rc_joins: z
        .object({ local: rateLimitSettings(0.1, 10), remote: rateLimitSettings(0.01, 10) }, { error: 'expected a mapping with local and remote' })
        .prefault({}),
      /** Synapse's `user_directory` section. */
      user_directory: z
        .object({ enabled: bool.default(true), search_all_users: bool.default(false) }, { error: 'expected a mapping such as {search_all_users: false}' })
        .prefault({}),
      /** Synapse: serve /.well-known/matrix/server, delegating federation to port 443 of the server name. */
      serve_server_wellknown: bool.default(false),
      /**
       * Ours: the server's contacts served at /.well-known/matrix/support (spec "Server support
       * discovery", the response's shape); 404 while unset.
       */
      support: z
        .object(
          {
            contacts: z
              .array(
                z
                  .object(
                    {
                      matrix_id: z.string({ error: 'expected a user ID such as "@admin:example.org"' }).regex(/^@[^:]+:.+$/, { error: 'expected a user ID such as "@admin:example.org"' }).optional(),
                      email_address: nonEmptyString('an email address').optional(),
                      role: nonEmptyString('a role such as "m.role.admin"'),
                    },
                    { error: 'expected {matrix_id, email_address, role}' },
                  )
                  .refine((c) => c.matrix_id !== undefined || c.email_address !== undefined, { error: 'a contact needs matrix_id or email_address' }),
                { error: 'expected a list of {matrix_id, email_address, role}' },
              )
              .optional(),
            support_page: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
          },
          { error: 'expected a mapping with contacts and/or support_page' },
        )
        .refine((s) => (s.contacts !== undefined && s.contacts.length > 0) || s.support_page !== undefined, {
          error: 'support needs at least one contact or a support_page',
        })
        .optional(),
      /** Synapse's TURN settings for /voip/turnServer. */
      turn_uris: z.array(nonEmptyString('a TURN URI'), { error: 'expected a list of TURN URIs' }).default([]),
      turn_shared_secret: nonEmptyString('a secret string').optional(),
      turn_username: nonEmptyString('a user name').optional(),
      turn_password: nonEmptyString('a password').optional(),
      turn_user_lifetime: duration.prefault('1h'),
      turn_allow_guests: bool.default(true),
      /** Ours: the pino log level. Python's names (WARNING, CRITICAL) are accepted too. */
      log_level: z
        .preprocess(
          (v) => {
            if (typeof v !== 'string') return v;
            const l = v.toLowerCase();
            return l === 'warning' ? 'warn' : l === 'critical' ? 'fatal' : l;
          },
          z.enum(LOG_LEVELS, { error: (iss) => `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(iss.input)}` }),
        )
        .default('info'),
    })
    .superRefine((c, ctx) => {
      if (c.listeners.some((l) => l.tls && (LISTENER_TYPES as readonly string[]).includes(l.type))) {
        if (!c.tls_certificate_path) ctx.addIssue({ code: 'custom', path: ['tls_certificate_path'], message: 'required when a listener has tls: true' });
        if (!c.tls_private_key_path) ctx.addIssue({ code: 'custom', path: ['tls_private_key_path'], message: 'required when a listener has tls: true' });
      }
    });
}

function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

export type ConfigSchema = ReturnType<typeof buildConfigSchema>;
export type ConfigInput = z.input<ConfigSchema>;
export type ParsedConfig = z.output<ConfigSchema>;

/** One listener after loading: resources expanded to what it mounts (see `expandResources`). */
export interface ListenerConfig {
  port: number;
  bind_addresses: string[];
  tls: boolean;
  type: 'http' | 'metrics';
  x_forwarded: boolean;
  /** The resource names as written (known ones only). */
  resources: { names: ResourceName[]; compress?: boolean | undefined }[];
  /** What the listener actually serves, after Synapse's implications are applied. */
  mounts: ResourceName[];
}

/** The loaded configuration: every default applied, paths absolute, durations/sizes as numbers. */
export interface Config extends Omit<ParsedConfig, 'listeners' | 'log_level'> {
  listeners: ListenerConfig[];
  log_level: LogLevel;
}

/**
 * What a listener mounts for the resource names it lists, as Synapse does: `federation` also serves
 * the key API; `client` and `federation` also serve media (authenticated media lives under both);
 * `health` is always served. A `metrics` listener serves metrics only (plus health).
 */
export function expandResources(type: 'http' | 'metrics', names: readonly ResourceName[]): ResourceName[] {
  const out = new Set<ResourceName>(['health']);
  if (type === 'metrics') {
    out.add('metrics');
    return [...out];
  }
  for (const n of names) {
    out.add(n);
    if (n === 'federation') out.add('keys');
    if (n === 'client' || n === 'federation') out.add('media');
  }
  return RESOURCE_NAMES.filter((n) => out.has(n));
}
