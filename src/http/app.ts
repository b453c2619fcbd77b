// The Fastify app factory: Matrix error shapes, CORS, JSON body parsing, body limits, request ids and
// logging, then one route plugin per area, mounted according to the listener's resources.
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config, ResourceName } from '../config/schema.js';
import { RESOURCE_NAMES } from '../config/schema.js';
import type { SigningKey } from '../core/crypto/ed25519.js';
import { JsonParseError, parseJsonBytes } from '../core/json/parse.js';
import { MatrixError } from '../errors.js';
import { CORS_HEADERS, routeMatcher, redactUrl, type RouteMatcher } from './shell.js';
import { clientVersionsRoutes } from './client/versions.js';
import { federationVersionRoutes } from './federation/version.js';
import { serverKeyRoutes } from './keys/server.js';
import { healthRoutes } from './health.js';
import { metricsRoutes, recordRequestMetric } from './metrics.js';
import { lazySchemaCompilers } from './schema-compilers.js';
import type { UsersService } from '../users/service.js';
import type { Store } from '../store/index.js';
import type { Notifier } from '../sync/notifier.js';
import type { RoomsService } from '../rooms/service.js';
import { registerRoutes } from './client/register.js';
import { loginRoutes } from './client/login.js';
import { logoutRoutes } from './client/logout.js';
import { accountRoutes } from './client/account.js';
import { deviceRoutes } from './client/devices.js';
import { capabilitiesRoutes } from './client/capabilities.js';
import { filterRoutes } from './client/filter.js';
import { accountDataRoutes } from './client/account-data.js';
import { profileRoutes } from './client/profile.js';
import { adminRegisterRoutes } from './admin/register.js';
import type { RoomLifecycleService } from '../rooms/lifecycle/index.js';
import { createRoomRoutes } from './client/create-room.js';
import { membershipRoutes } from './client/membership.js';
import { aliasRoutes } from './client/aliases.js';
import { directoryRoutes } from './client/directory.js';
import { joinedRoomsRoutes } from './client/joined-rooms.js';
import { upgradeRoutes } from './client/upgrade.js';
import type { SearchService } from '../search/service.js';
import type { UserDirectoryService } from '../search/user-directory.js';
import type { ReportsService } from '../search/reports.js';
import type { OpenIdTokens } from '../search/openid.js';
import type { RateLimiter } from './rate-limit.js';
import { searchRoutes } from './client/search.js';
import { userDirectoryRoutes } from './client/user-directory.js';
import { reportRoutes } from './client/report.js';
import { miscRoutes } from './client/misc.js';
import { wellKnownRoutes } from './well-known.js';
import type { TypingService } from '../ephemeral/typing.js';
import type { ReceiptsService } from '../ephemeral/receipts.js';
import type { PresenceService } from '../ephemeral/presence.js';
import { typingRoutes } from './client/typing.js';
import { receiptRoutes } from './client/receipts.js';
import { readMarkerRoutes } from './client/read-markers.js';
import { presenceRoutes } from './client/presence.js';
import type { PushService } from '../push/service.js';
import { pushRulesRoutes } from './client/pushrules.js';
import { pushersRoutes } from './client/pushers.js';
import { notificationsRoutes } from './client/notifications.js';
import type { ClientTxns } from '../rooms/transactions.js';
import type { RelationsService } from '../rooms/relations.js';
import type { RoomEventsService } from '../rooms/room-events.js';
import { sendRoutes } from './client/send.js';
import { stateRoutes } from './client/state.js';
import { membersRoutes } from './client/members.js';
import { eventRoutes } from './client/event.js';
import { contextRoutes } from './client/context.js';
import { messagesRoutes } from './client/messages.js';
import { redactRoutes } from './client/redact.js';
import { relationsRoutes } from './client/relations.js';
import { threadsRoutes } from './client/threads.js';
import { syncRoutes } from './client/sync.js';
import type { SyncService } from '../sync/service.js';
import type { SyncSources } from '../sync/sources.js';
import type { E2eeService } from '../e2ee/service.js';
import type { DeviceKeysSource, ToDeviceSource } from '../sync/sources.js';
import { keysRoutes } from './client/keys.js';
import { crossSigningRoutes } from './client/cross-signing.js';
import { toDeviceRoutes } from './client/to-device.js';
import { keyBackupRoutes } from './client/key-backup.js';
import { dehydratedDeviceRoutes } from './client/dehydrated-device.js';
import type { MediaService } from '../media/index.js';
import type { FederationClient } from '../federation/client.js';
import type { NotaryKeyRing } from '../federation/keys.js';
import { notaryRoutes } from './federation/keys-query.js';
import type { InboundFederation } from '../federation/inbound/index.js';
import { federationSendRoutes } from './federation/send.js';
import { federationEventRoutes } from './federation/events.js';
import { federationStateRoutes } from './federation/state.js';
import { federationBackfillRoutes } from './federation/backfill.js';
import { federationMissingEventsRoutes } from './federation/missing-events.js';
import { federationTimestampRoutes } from './federation/timestamp.js';
import type { MembershipFederation } from '../federation/membership/index.js';
import type { FederationQueries } from '../federation/queries/index.js';
import type { FederationSender } from '../federation/sender/index.js';
import { makeJoinRoutes } from './federation/make-join.js';
import { sendJoinRoutes } from './federation/send-join.js';
import { makeLeaveRoutes } from './federation/make-leave.js';
import { sendLeaveRoutes } from './federation/send-leave.js';
import { makeKnockRoutes } from './federation/make-knock.js';
import { sendKnockRoutes } from './federation/send-knock.js';
import { inviteRoutes } from './federation/invite.js';
import { queryRoutes } from './federation/query.js';
import { userRoutes } from './federation/user.js';
import { publicRoomsRoutes } from './federation/public-rooms.js';
import { hierarchyRoutes } from './federation/hierarchy.js';
import { openIdRoutes } from './federation/openid.js';
import { federationMediaRoutes } from './federation/media.js';
import { clientHierarchyRoutes } from './client/hierarchy.js';
import type { AdminService } from '../admin/service.js';
import { clientAdminRoutes } from './client/admin.js';
import { mutualRoomsRoutes } from './client/mutual-rooms.js';
import { timestampToEventRoutes } from './client/timestamp.js';
import { roomSummaryRoutes } from './client/room-summary.js';
import { threepidTokenRoutes } from './client/threepid.js';
import { legacySyncRoutes } from './client/legacy-sync.js';
import { serverSupportRoutes } from './client/server-support.js';
import { synapseServerRoutes } from './admin/synapse-server.js';
import { synapseUserRoutes } from './admin/synapse-users.js';
import { synapseRoomRoutes } from './admin/synapse-rooms.js';
import { mediaRoutes } from './media/legacy.js';
import { authenticatedMediaRoutes } from './client/media.js';
import { rememberRawBody } from './raw-body.js';

/** A key this server signed with before (published in `old_verify_keys`). */
export interface OldVerifyKey {
  keyId: string;
  /** Unpadded base64 public key. */
  publicKey: string;
  expiredTs: number;
}

export interface ServerKeys {
  current: SigningKey;
  old: OldVerifyKey[];
}

/**
 * Everything the routes need, built by server.ts (or by a test) and passed in: no globals.
 * Later areas add their services here (store, rooms, sync, ...), optional until they exist.
 */
export interface AppServices {
  config: Config;
  logger?: Logger;
  serverKeys: ServerKeys;
  /** Milliseconds since 1970; tests pass a fixed clock. */
  clock?: () => number;
  /** prom-client registry for /_synapse/metrics and the request counters. */
  metrics?: Registry;
  /** Accounts, devices, tokens, profiles, account data, filters (src/users); its routes mount only when present. */
  users?: UsersService;
  /** The room store (read API); writes go through `rooms`. */
  store?: Store;
  /** Wakes waiting /sync requests and the federation sender after each commit. */
  notifier?: Notifier;
  /** The single writer of room events and state (src/rooms). */
  rooms?: RoomsService;
  /** Room creation, membership, upgrades, aliases and the room directory (src/rooms/lifecycle). */
  roomLifecycle?: RoomLifecycleService;
  /** POST /search over the full-text index (src/search). */
  search?: SearchService;
  /** POST /user_directory/search (src/search/user-directory.ts). */
  userDirectory?: UserDirectoryService;
  /** Content reports (src/search/reports.ts). */
  reports?: ReportsService;
  /** OpenID tokens (src/search/openid.ts); the federation openid/userinfo endpoint reads them. */
  openIdTokens?: OpenIdTokens;
  /** Client rate limits (src/http/rate-limit.ts), applied to routes declaring `rateLimit`; none when absent. */
  rateLimiter?: RateLimiter;
  /** Typing notifications, in memory (src/ephemeral/typing.ts); /sync reads it as its TypingSource. */
  typing?: TypingService;
  /** Receipts and read markers (src/ephemeral/receipts.ts); /sync's ReceiptsSource. */
  receipts?: ReceiptsService;
  /** Presence (src/ephemeral/presence.ts); /sync's PresenceSource. */
  presence?: PresenceService;
  /** Push rules, notification counts (/sync's NotificationCountsSource), pushers, /notifications (src/push). */
  push?: PushService;
  /** Client transaction IDs of /send and /redact (src/rooms/transactions.ts); /sync reads `lookup` for transaction_id. */
  txns?: ClientTxns;
  /** The relations index and bundled aggregations (src/rooms/relations.ts); /sync reads `aggregations`. */
  relations?: RelationsService;
  /** Room event endpoints (src/rooms/room-events.ts); built from store, rooms, txns and relations when absent. */
  roomEvents?: RoomEventsService;
  /** GET /sync (src/sync); built by server.ts, or by the sync plugin from the services here when absent. */
  sync?: SyncService;
  /** /sync sources not held as services above (e2ee sets toDevice and deviceKeys here). */
  syncSources?: SyncSources;
  /** Device, one-time and cross-signing keys, to-device messages, key backup, dehydrated devices (src/e2ee). */
  e2ee?: E2eeService;
  /** /sync's ToDeviceSource (src/e2ee): `e2ee.toDevice`. */
  toDevice?: ToDeviceSource;
  /** /sync's DeviceKeysSource (src/e2ee): `e2ee.deviceKeys`. */
  deviceKeys?: DeviceKeysSource;
  /** The media repository and URL previewer (src/media): /_matrix/media and /_matrix/client/v1/media. */
  media?: MediaService;
  /** Server-server API (src/federation): the signed HTTPS client, the key ring; other parts add theirs. */
  federation?: FederationServices;
  /**
   * Account moderation (suspension, locks) and the gate every authenticated client request passes,
   * whois, the Synapse admin API subset, mutual rooms, room summaries, timestamp lookups (src/admin).
   */
  admin?: AdminService;
}

/** The federation area's services; each federation part adds its own fields here. */
export interface FederationServices {
  /** Outbound signed requests (src/federation/client.ts). */
  client: FederationClient;
  /** Remote signing keys, signature checks and the notary (src/federation/keys.ts). */
  keyRing: NotaryKeyRing;
  /** Inbound events: /send, the event-serving endpoints, the backfill client (src/federation/inbound). */
  inbound?: InboundFederation;
  /** The membership handshakes (make, send, invite) both ways: remote joins, knocks, invites, leaves (src/federation/membership). */
  membership?: MembershipFederation;
  /** Directory, profile, devices, keys, public rooms, hierarchy, OpenID queries both ways (src/federation/queries). */
  queries?: FederationQueries;
  /** Outbound PDUs and EDUs: persisted per-destination queues, transactions, backoff, catch-up (src/federation/sender). */
  sender?: FederationSender;
}

export interface BuildAppOptions {
  /** What this listener serves; default every resource. Pass `ListenerConfig.mounts`. */
  resources?: readonly ResourceName[];
  /** Serve HTTPS with this PEM certificate chain and key. */
  https?: { cert: string | Buffer; key: string | Buffer };
  /** Largest request body in bytes (default 1 MiB); routes may raise their own. */
  bodyLimit?: number;
  /** Trust X-Forwarded-* headers (the listener's x_forwarded). */
  trustProxy?: boolean;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** A route plugin factory: receives the services, returns a Fastify plugin. */
export type RoutePlugin = (services: AppServices) => (app: FastifyInstance) => Promise<void>;

/** Route plugins per resource. New areas add their plugin to the list of their resource. */
const PLUGINS: Record<ResourceName, RoutePlugin[]> = {
  client: [
    clientVersionsRoutes,
    registerRoutes,
    loginRoutes,
    logoutRoutes,
    accountRoutes,
    deviceRoutes,
    capabilitiesRoutes,
    filterRoutes,
    accountDataRoutes,
    profileRoutes,
    adminRegisterRoutes,
    createRoomRoutes,
    membershipRoutes,
    aliasRoutes,
    directoryRoutes,
    joinedRoomsRoutes,
    upgradeRoutes,
    searchRoutes,
    userDirectoryRoutes,
    reportRoutes,
    wellKnownRoutes,
    typingRoutes,
    receiptRoutes,
    readMarkerRoutes,
    presenceRoutes,
    pushRulesRoutes,
    pushersRoutes,
    notificationsRoutes,
    sendRoutes,
    stateRoutes,
    membersRoutes,
    eventRoutes,
    contextRoutes,
    messagesRoutes,
    redactRoutes,
    relationsRoutes,
    threadsRoutes,
    syncRoutes,
    keysRoutes,
    crossSigningRoutes,
    toDeviceRoutes,
    keyBackupRoutes,
    dehydratedDeviceRoutes,
    authenticatedMediaRoutes,
    clientHierarchyRoutes,
    // Admin, moderation and lookup endpoints, the Synapse admin API, deprecated reads (src/admin).
    clientAdminRoutes,
    mutualRoomsRoutes,
    timestampToEventRoutes,
    roomSummaryRoutes,
    threepidTokenRoutes,
    legacySyncRoutes,
    serverSupportRoutes,
    synapseServerRoutes,
    synapseUserRoutes,
    synapseRoomRoutes,
    // Keep last: its /room_keys/version placeholder steps aside for a real key-backup route.
    miscRoutes,
  ],
  federation: [
    federationVersionRoutes,
    // Inbound events (src/federation/inbound).
    federationSendRoutes,
    federationEventRoutes,
    federationStateRoutes,
    federationBackfillRoutes,
    federationMissingEventsRoutes,
    federationTimestampRoutes,
    // Membership handshakes and queries (src/federation/membership, src/federation/queries).
    makeJoinRoutes,
    sendJoinRoutes,
    makeLeaveRoutes,
    sendLeaveRoutes,
    makeKnockRoutes,
    sendKnockRoutes,
    inviteRoutes,
    queryRoutes,
    userRoutes,
    publicRoomsRoutes,
    hierarchyRoutes,
    openIdRoutes,
    federationMediaRoutes,
  ],
  keys: [serverKeyRoutes, notaryRoutes],
  media: [mediaRoutes],
  health: [healthRoutes],
  metrics: [metricsRoutes],
};

export function buildApp(services: AppServices, opts: BuildAppOptions = {}): FastifyInstance {
  const resources = new Set(opts.resources ?? RESOURCE_NAMES);
  let requestCounter = 0;
  const idPrefix = Math.random().toString(36).slice(2, 6);

  const app = Fastify({
    ...(services.logger ? { loggerInstance: services.logger } : { logger: false }),
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key } } : {}),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    trustProxy: opts.trustProxy ?? false,
    // We log one line per request ourselves (onResponse), with the access token redacted.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: () => `${idPrefix}-${(++requestCounter).toString(36)}`,
    // Requests arriving on keep-alive connections while closing are still served (with
    // Connection: close) rather than answered with Fastify's non-Matrix 503 body.
    return503OnClosing: false,
    // Matrix IDs, state keys and transaction IDs in paths can be long (user IDs up to 255 bytes,
    // percent-encoded up to three times that); Fastify's default of 100 characters is too short.
    routerOptions: { maxParamLength: 4096 },
    // ajv and fast-json-stringify only if a route ever declares a JSON schema (none does).
    schemaController: { compilersFactory: lazySchemaCompilers() },
    clientErrorHandler: onClientError,
    frameworkErrors: (err, _request, reply) => {
      // Bad percent-encoding in the path and similar router-level failures.
      sendError(reply, new MatrixError('M_UNRECOGNIZED', err.message || 'Unrecognized request', 400));
    },
  }) as unknown as FastifyInstance;

  // --- Routes known to this app, to tell 405 (known path, other method) from 404.
  const matcher: RouteMatcher = routeMatcher();
  app.addHook('onRoute', (route) => {
    if (route.url === '*' || route.url === '/*') return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    matcher.add(route.url, methods);
  });

  // While closing, answers also close their keep-alive connection, so that shutdown does not wait
  // for clients to drop idle sockets.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  // --- CORS on every response (client-server API "Web Browser Clients"), errors and 404s included.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.headers(CORS_HEADERS);
    if (closing) reply.header('connection', 'close');
    return payload;
  });

  // --- Refuse a declared Content-Length above the limit before reading any of the body.
  app.addHook('onRequest', async (request, reply) => {
    const declared = request.headers['content-length'];
    if (declared === undefined) return;
    const limit = request.routeOptions.bodyLimit ?? opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
    const n = Number(declared);
    if (Number.isFinite(n) && n > limit) {
      reply.header('connection', 'close');
      throw new MatrixError('M_TOO_LARGE', `Request body is larger than ${limit} bytes`, 413);
    }
  });

  // --- One log line per request, and request metrics.
  app.addHook('onResponse', async (request, reply) => {
    const ms = reply.elapsedTime;
    request.log.info(
      { method: request.method, url: redactUrl(request.url), status: reply.statusCode, ms: Math.round(ms * 10) / 10 },
      'request',
    );
    if (services.metrics) recordRequestMetric(services.metrics, request, reply.statusCode, ms);
  });

  // --- Bodies: JSON whatever the content type says (clients often omit or mislabel it). Media
  // uploads and other non-JSON routes register their own parser inside their plugin.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request: FastifyRequest, body: Buffer, done) => {
    // Unknown paths answer 404 whatever the body holds.
    if (body.length === 0 || request.is404) {
      done(null, undefined);
      return;
    }
    try {
      const value = parseJsonBytes(body);
      rememberRawBody(request, body);
      done(null, value);
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    const matrixError = toMatrixError(err);
    // 502/504 thrown on purpose report another server's failure (unreachable, bad answer): worth a
    // warning, not an error with our stack trace.
    if (err instanceof MatrixError && (err.status === 502 || err.status === 504)) request.log.warn({ errcode: err.errcode, msg: err.message }, 'upstream failure');
    else if (matrixError.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.debug({ errcode: matrixError.errcode, msg: matrixError.message }, 'request refused');
    sendError(reply, matrixError);
  });

  app.setNotFoundHandler((request, reply) => {
    const status = matcher.matchesOtherMethod(request.method, request.url) ? 405 : 404;
    sendError(reply, new MatrixError('M_UNRECOGNIZED', 'Unrecognized request', status));
  });

  // CORS preflight for every path (the spec asks for the CORS headers on OPTIONS to any route).
  app.options('*', async (_request, reply) => {
    reply.code(204).headers(CORS_HEADERS).send();
  });

  // Read by clientRoute() for routes declaring `rateLimit`.
  app.decorate('rateLimiter', services.rateLimiter ?? null);
  // Read by the client auth check (src/http/client/auth.ts): locks, suspension, client addresses.
  app.decorate('accountGate', services.admin?.gate ?? null);

  for (const name of RESOURCE_NAMES) {
    if (!resources.has(name)) continue;
    for (const plugin of PLUGINS[name]) void app.register(plugin(services));
  }

  return app;
}

function sendError(reply: FastifyReply, e: MatrixError): void {
  reply.code(e.status).headers(CORS_HEADERS).type('application/json').send(e.toJSON());
}

/** Maps anything thrown by a handler, hook or Fastify itself to the Matrix error it answers with. */
export function toMatrixError(err: unknown): MatrixError {
  if (err instanceof MatrixError) return err;
  if (err instanceof JsonParseError) {
    return new MatrixError(err.errcode, err.kind === 'syntax' ? `Content not JSON: ${err.message}` : err.message, 400);
  }
  // A zod validation failure, recognised by shape: importing zod here would keep it loaded in every
  // server although no route validates with it (see config/load.ts).
  if (isZodError(err)) {
    const first = err.issues[0];
    const where = first && first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
    return new MatrixError('M_BAD_JSON', `${where}${first?.message ?? 'invalid body'}`, 400);
  }
  const fe = err as Partial<FastifyError> & { validationContext?: string };
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new MatrixError('M_TOO_LARGE', 'Request body too large', 413);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new MatrixError('M_NOT_JSON', fe.message ?? 'Content not JSON', 400);
    case 'FST_ERR_VALIDATION':
      return new MatrixError(fe.validationContext === 'body' ? 'M_BAD_JSON' : 'M_INVALID_PARAM', fe.message ?? 'Invalid request', 400);
  }
  const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500;
  if (status >= 500) return new MatrixError('M_UNKNOWN', 'Internal server error', status);
  return new MatrixError('M_UNKNOWN', fe.message ?? 'Bad request', status);
}

/** Node's HTTP parser rejected the request (bad method, bad header, header overflow, timeout). */
function onClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let reason = 'Bad Request';
  let body: Record<string, string> = { errcode: 'M_UNKNOWN', error: 'Malformed HTTP request' };
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    reason = 'Request Header Fields Too Large';
    body = { errcode: 'M_TOO_LARGE', error: 'Request headers too large' };
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    reason = 'Request Timeout';
    body = { errcode: 'M_UNKNOWN', error: 'Request timed out' };
  } else if (err.code === 'HPE_INVALID_METHOD') {
    body = { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request method' };
  }
  this.log.debug({ code: err.code }, 'malformed request');
  if (socket.writable) {
    const text = JSON.stringify(body);
    const headers = Object.entries(CORS_HEADERS)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    // end() flushes the answer before the socket goes; destroy() alone could drop it.
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
        `${headers}Connection: close\r\n\r\n${text}`,
      () => socket.destroy(),
    );
    return;
  }
  socket.destroy();
}

interface ZodErrorLike {
  name: 'ZodError';
  issues: { path: PropertyKey[]; message: string }[];
}

function isZodError(err: unknown): err is ZodErrorLike {
  return err instanceof Error && err.name === 'ZodError' && Array.isArray((err as Partial<ZodErrorLike>).issues);
}
