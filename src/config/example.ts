// Renders the commented configuration file: config.example.yaml and the output of `generate-config`.
// A test checks that it documents every key of the schema and loads to exactly the schema defaults.
import { DEFAULT_IP_RANGE_BLACKLIST, DEFAULT_THUMBNAIL_SIZES } from './schema.js';
import { DEFAULT_ROOM_VERSION } from '../core/events/room-versions.js';

export interface ExampleConfigOptions {
  /** Default `localhost:8008`. */
  serverName?: string;
  /** Folder for the database, key and media (default `./data`, relative to the working directory). */
  dataDir?: string;
  /** Address the default listener binds (default 127.0.0.1). */
  bindAddress?: string;
  /** When given, written as `registration_shared_secret` instead of a commented example. */
  registrationSharedSecret?: string;
}

const q = (s: string) => JSON.stringify(s);

export function renderConfigYaml(opts: ExampleConfigOptions = {}): string {
  const serverName = opts.serverName ?? 'localhost:8008';
  const dataDir = (opts.dataDir ?? './data').replace(/\/+$/, '') || '/';
  const bind = opts.bindAddress ?? '127.0.0.1';
  const secret =
    opts.registrationSharedSecret === undefined
      ? '#registration_shared_secret: "a long random string"'
      : `registration_shared_secret: ${q(opts.registrationSharedSecret)}`;
  const blacklist = DEFAULT_IP_RANGE_BLACKLIST.map((r) => `  - ${q(r)}`).join('\n');
  const thumbnails = DEFAULT_THUMBNAIL_SIZES.map((t) => `  - {width: ${t.width}, height: ${t.height}, method: ${t.method}}`).join('\n');

  return `# tsmatrix configuration. Key names follow Synapse's homeserver.yaml, so an existing Synapse file
# loads too: keys this server does not know are logged as a warning and ignored.
# Relative paths are resolved against the working directory. Every value shown is the default,
# except lines that start with "#", which are examples of optional settings.

# The public name of this server: the part after ":" in user IDs (@alice:${serverName}).
# It cannot be changed once users and rooms exist.
server_name: ${q(serverName)}

# The URL clients use to reach this server, if it differs from https://<server_name>/.
#public_baseurl: "https://matrix.example.org/"

# Where the server listens. Each listener has a port, the addresses it binds (Synapse's default when
# bind_addresses is omitted is ["::", "0.0.0.0"]), whether it speaks TLS itself, its type ("http", or
# "metrics" for a metrics-only port), x_forwarded (trust X-Forwarded-For/-Proto from a reverse proxy)
# and the resources it serves:
#   client      the client-server API (/_matrix/client), which also brings media
#   federation  the server-server API (/_matrix/federation), which also brings keys and media
#   keys        the server key API (/_matrix/key)
#   media       the media repository (/_matrix/media)
#   metrics     Prometheus metrics at /_synapse/metrics
#   health      /health (always served on every listener)
# "compress" is accepted for compatibility; responses are not compressed.
listeners:
  - port: 8008
    bind_addresses: [${q(bind)}]
    tls: false
    type: http
    x_forwarded: false
    resources:
      - names: [client, federation]
# A federation listener with TLS (needs tls_certificate_path and tls_private_key_path):
#  - port: 8448
#    bind_addresses: ["::", "0.0.0.0"]
#    tls: true
#    type: http
#    resources:
#      - names: [federation]

# PEM certificate chain and private key for listeners with tls: true.
#tls_certificate_path: "${dataDir}/tls.crt"
#tls_private_key_path: "${dataDir}/tls.key"

# The database, written as Synapse does. Only sqlite3 is supported.
database:
  name: sqlite3
  args:
    database: ${q(`${dataDir}/homeserver.db`)}

# This server's ed25519 signing key, in Synapse's key file format ("ed25519 <version> <base64 seed>"),
# so a Synapse key can be brought over. Generated on first start when the file does not exist.
signing_key_path: ${q(`${dataDir}/signing.key`)}

# Keys this server signed with before, still published so that other servers can check old events.
# The key is the unpadded base64 public key; expired_ts is when it stopped being used (ms since 1970).
old_signing_keys: {}
#old_signing_keys:
#  "ed25519:previous": {key: "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ", expired_ts: 1700000000000}

# How long other servers may cache our keys: valid_until_ts in /_matrix/key/v2/server is now plus
# this. A duration such as "1d", "2h", "30m", "10s", "500ms", or a number of milliseconds.
key_refresh_interval: "1d"

# Folder for uploaded and cached remote media.
media_store_path: ${q(`${dataDir}/media_store`)}

# Largest accepted upload: a number of bytes or a size such as "50M", "512K", "1G" (powers of 1024).
max_upload_size: "50M"

# Images with more pixels than this are not thumbnailed (413 M_TOO_LARGE); "32M" is 32 * 1024^2 pixels.
max_image_pixels: "32M"

# Thumbnail sizes. "crop" fills exactly width x height (cutting the edges), "scale" fits the image
# inside width x height. Images are never enlarged. Without dynamic_thumbnails a request is answered
# with the closest of these sizes; each is generated on first request and kept.
thumbnail_sizes:
${thumbnails}

# Generate thumbnails of exactly the size a client asks for instead of the closest configured one.
dynamic_thumbnails: false

# How long an mxc:// URI made by POST /_matrix/media/v1/create waits for its upload.
unused_expiration_time: 24h

# How many created but not yet uploaded mxc:// URIs one user may hold at a time.
max_pending_media_uploads: 5

# true "freezes" the unauthenticated /_matrix/media/v3/download and /thumbnail endpoints (spec
# v1.11) for media uploaded from then on: such media is served only through the authenticated
# /_matrix/client/v1/media endpoints. Synapse's default is true; here it is false, because some
# clients still fetch media without a token.
enable_authenticated_media: false

# URL previews (GET /preview_url): the server fetches pages that clients ask about and returns their
# Open Graph data. Off by default, as in Synapse.
url_preview_enabled: false

# Addresses the URL previewer never connects to (0.0.0.0 and :: are always refused), checked on every
# address a name resolves to and after every redirect. Default: private and reserved ranges.
url_preview_ip_range_blacklist:
${blacklist}

# Addresses the URL previewer may reach even though url_preview_ip_range_blacklist lists them.
url_preview_ip_range_whitelist: []

# URLs never previewed. An entry matches when all its fields match; a value is a glob, or a regular
# expression when it starts with "^". Fields: scheme, netloc, hostname, port, path, query, fragment,
# username, password. None by default.
#url_preview_url_blacklist:
#  - netloc: "*.internal.example.org"
#  - scheme: "http"

# Accept-Language sent when fetching pages to preview.
url_preview_accept_language: ["en"]

# Largest page or image the URL previewer downloads.
max_spider_size: "10M"

# Whether anyone can register an account through the client API.
enable_registration: false

# With this secret, admins can create accounts through /_synapse/admin/v1/register (Synapse's
# register_new_matrix_user tool works) even when enable_registration is false. Keep it private.
${secret}

# Whether guests (kind=guest registration) may use the client API.
allow_guest_access: false

# The room version used for new rooms when the client does not ask for one.
default_room_version: ${q(DEFAULT_ROOM_VERSION)}

# Check the TLS certificates of other servers. Only turn this off for test federations.
federation_verify_certificates: true

# Send events and EDUs to other servers (Synapse's name). With false, nothing is ever sent out.
send_federation: true

# PEM files of the certificate authorities trusted for federation, replacing the system list (as Synapse).
#federation_custom_ca_list:
#  - "/etc/ssl/private-ca.pem"

# Servers trusted to vouch for other servers' keys (the notary API). Synapse's default is matrix.org;
# here the default is none, so keys are always fetched from the servers themselves.
trusted_key_servers: []
#trusted_key_servers:
#  - server_name: "matrix.org"
#    verify_keys:
#      "ed25519:auto": "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"

# Addresses this server never connects to when making outbound requests (federation, media, push),
# so that remote input cannot reach internal services. Default: private and reserved ranges.
ip_range_blacklist:
${blacklist}

# Addresses allowed even though they are in ip_range_blacklist (e.g. 127.0.0.1 for a local test
# federation).
ip_range_whitelist: []

# Presence (online/unavailable/offline, status messages). With enabled: false the presence
# endpoints still answer (everyone appears offline) but nothing is tracked or sent to anyone.
presence:
  enabled: true

# Rate limits for clients. false turns every limit off (tests, benchmarks).
rate_limiting: true

# Synapse's rate limits: on average per_second actions, in bursts of up to burst_count. Messages and
# joins count per user (server admins are exempt), registration per client address, login per
# address, per account and per failed attempt. Exceeding one answers 429 M_LIMIT_EXCEEDED.
rc_message:
  per_second: 0.2
  burst_count: 10
# Registrations per client address.
rc_registration:
  per_second: 0.17
  burst_count: 3
# Login attempts per client address, per account, and failed attempts per account.
rc_login:
  address:
    per_second: 0.003
    burst_count: 5
  account:
    per_second: 0.003
    burst_count: 5
  failed_attempts:
    per_second: 0.17
    burst_count: 3
# Room joins per user (remote: joins through another server).
rc_joins:
  local:
    per_second: 0.1
    burst_count: 10
  remote:
    per_second: 0.01
    burst_count: 10

# The user directory (POST /user_directory/search). With search_all_users: false, users find only
# people who share a room with them or are in public rooms; with true, every user this server knows.
user_directory:
  enabled: true
  search_all_users: false

# Serve /.well-known/matrix/server, telling other servers to reach this one at port 443 of the
# server name (for a reverse proxy there). /.well-known/matrix/client is served when public_baseurl is set.
serve_server_wellknown: false

# Who users can contact about this server, served at /.well-known/matrix/support (each contact needs
# a matrix_id or an email_address; role m.role.admin or m.role.security). Not served when unset.
#support:
#  contacts:
#    - matrix_id: "@admin:example.org"
#      email_address: "admin@example.org"
#      role: m.role.admin
#  support_page: "https://example.org/support.html"

# TURN servers for VoIP calls (GET /voip/turnServer). With turn_shared_secret, each user gets
# time-limited credentials (the TURN REST API of coturn's use-auth-secret); or give a fixed
# turn_username and turn_password. No TURN server by default.
#turn_uris:
#  - "turn:turn.example.org:3478?transport=udp"
#  - "turn:turn.example.org:3478?transport=tcp"
# The shared secret configured in the TURN server.
#turn_shared_secret: "a long random string"
# Fixed TURN credentials, when the TURN server has no shared secret.
#turn_username: "turnuser"
# The password that goes with turn_username.
#turn_password: "turnpassword"
# How long generated TURN credentials stay valid.
turn_user_lifetime: 1h
# Whether guests may get TURN credentials.
turn_allow_guests: true

# Log level: trace, debug, info, warn, error, fatal or silent. Logs are JSON lines on stdout.
# (Synapse's log_config file is not supported.)
log_level: info
`;
}
