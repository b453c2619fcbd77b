// Starts and stops the homeserver: data folders, database, signing key, one Fastify app per listener
// address, and a bounded graceful shutdown.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config, ListenerConfig, ResourceName } from './config/schema.js';
import { formatSigningKeyFile, generateSigningKey, parseSigningKeyFile, type SigningKey } from './core/crypto/ed25519.js';
import { buildApp, type AppServices, type OldVerifyKey, type ServerKeys } from './http/app.js';
import { createMetricsRegistry } from './http/metrics.js';
import { openDatabase, type Database } from './store/db.js';
import { createUsersService, usersOptionsFromConfig } from './users/service.js';
import { connectUsersToRooms } from './users/room-hooks.js';
import { createStore } from './store/index.js';
import { createRoomsService } from './rooms/service.js';
import { createRoomLifecycle } from './rooms/lifecycle/index.js';
import { createClientTxns } from './rooms/transactions.js';
import { createRelationsService } from './rooms/relations.js';
import { createNotifier } from './sync/notifier.js';
import { buildSyncService } from './http/client/sync.js';
import { createE2eeService } from './e2ee/service.js';
import { createSearchArea } from './search/index.js';
import { createRateLimiter } from './http/rate-limit.js';
import { createTypingService } from './ephemeral/typing.js';
import { createReceiptsService } from './ephemeral/receipts.js';
import { createPushService } from './push/service.js';
import { createGuardedFetch } from './net/guarded-fetch.js';
import { IpRangePolicy } from './federation/ip-ranges.js';
import { createPresenceService } from './ephemeral/presence.js';
import { createMediaService } from './media/index.js';
import { createFederationClient } from './federation/client.js';
import { createKeyRing } from './federation/keys.js';
import { createInboundFederation } from './federation/inbound/index.js';
import { createAdminService } from './admin/service.js';
import { createMembershipFederation, remoteRoomHooks, type PduFanout } from './federation/membership/index.js';
import { FederationQueries } from './federation/queries/index.js';
import { connectSenderSources, createFederationSender } from './federation/sender/index.js';
import { createRemoteMediaFetcher } from './federation/queries/media.js';
import { tlsOptionsFromConfig } from './federation/client.js';
import type { E2eeFederation } from './e2ee/service.js';

export interface ListeningAddress {
  /** e.g. `http://127.0.0.1:8008` or `https://[::1]:8448`. */
  url: string;
  host: string;
  port: number;
  tls: boolean;
  resources: ResourceName[];
}

export interface RunningServer {
  addresses: ListeningAddress[];
  /** Stops accepting, lets in-flight requests finish (bounded), closes the database. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** How long close() waits for in-flight requests before cutting connections (default 10 s). */
  shutdownGraceMs?: number;
}

/** Reads the signing key file, or creates it (mode 0600) with a fresh key when it does not exist. */
export function loadOrCreateSigningKey(path: string, logger: Logger): SigningKey {
  if (existsSync(path)) {
    const keys = parseSigningKeyFile(readFileSync(path, 'utf8'));
    const first = keys[0];
    if (!first) throw new Error(`signing key file ${path} holds no key`);
    if (keys.length > 1) {
      logger.warn(`signing key file ${path} holds ${keys.length} keys; signing with the first, ${first.keyId} (list older keys under old_signing_keys)`);
    }
    logger.info(`signing key ${first.keyId} loaded from ${path}`);
    return first;
  }
  mkdirSync(dirname(path), { recursive: true });
  const key = generateSigningKey();
  // 'wx': never overwrite a key another process created in the meantime.
  writeFileSync(path, formatSigningKeyFile([key]), { mode: 0o600, flag: 'wx' });
  logger.info(`generated new signing key ${key.keyId} at ${path}`);
  return key;
}

function oldVerifyKeys(config: Config): OldVerifyKey[] {
  return Object.entries(config.old_signing_keys).map(([keyId, k]) => ({ keyId, publicKey: k.key, expiredTs: k.expired_ts }));
}

function formatUrl(tls: boolean, host: string, port: number): string {
  return `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function startServer(config: Config, logger: Logger, opts: StartOptions = {}): Promise<RunningServer> {
  const graceMs = opts.shutdownGraceMs ?? 10_000;
  logger.info(`server name: ${config.server_name}`);

  const dbPath = config.database.args.database;
  if (dbPath !== ':memory:') mkdirSync(dirname(dbPath), { recursive: true });
  const db: Database = openDatabase(dbPath);
  logger.info(`database: ${dbPath}`);

  const apps: FastifyInstance[] = [];
  /** Timers of services to stop at shutdown. */
  const stops: (() => void)[] = [];
  const closeAll = async () => {
    await Promise.all(apps.map((app) => closeBounded(app, graceMs, logger)));
    for (const stop of stops) stop();
    if (db.open) db.close();
  };

  try {
    const serverKeys: ServerKeys = { current: loadOrCreateSigningKey(config.signing_key_path, logger), old: oldVerifyKeys(config) };
    mkdirSync(config.media_store_path, { recursive: true });
    logger.info(`media store: ${config.media_store_path}`);

    const needsTls = config.listeners.some((l) => l.tls);
    const tls =
      needsTls && config.tls_certificate_path && config.tls_private_key_path
        ? { cert: readFileSync(config.tls_certificate_path), key: readFileSync(config.tls_private_key_path) }
        : undefined;

    // Metrics (and prom-client with them) only when a listener serves them: nobody could read them otherwise.
    const metrics = config.listeners.some((l) => l.mounts.includes('metrics')) ? createMetricsRegistry() : undefined;
    const store = createStore(db);
    const notifier = createNotifier((err) => logger.error({ err }, 'notifier listener failed'));
    notifier.advanceTo(store.currentStreamPosition());
    const rooms = createRoomsService({
      store,
      notifier,
      serverName: config.server_name,
      signingKey: serverKeys.current,
      clock: Date.now,
      logger,
    });
    const services: AppServices = { config, logger, serverKeys, clock: Date.now, ...(metrics ? { metrics } : {}), store, notifier, rooms };
    // Transaction IDs and the relations index: derived writers, installed before any event is written.
    // The room-event routes build their service from these (src/http/client/room-events-common.ts).
    services.txns = createClientTxns({ store, now: Date.now });
    services.relations = createRelationsService({ store, now: Date.now });
    services.users = createUsersService({ ...usersOptionsFromConfig(db, config), onHookError: (hook, err) => logger.error({ err }, `users hook ${hook} failed`) });
    // Profile changes reach member events; deactivated users leave their rooms.
    connectUsersToRooms(services.users, rooms, {
      onRoomError: (roomId, userId, err) => logger.error({ err, roomId, userId }, 'profile propagation failed'),
    });
    // Search index, user directory, reports, OpenID tokens (src/search): derived writers installed
    // before any event is written; rate limits per Synapse's rc_* settings.
    Object.assign(services, createSearchArea({ store, config, users: services.users, clock: Date.now }));
    services.rateLimiter = createRateLimiter(config);
    // Room creation, membership, upgrades, aliases, directory; its derived writer keeps the
    // directory summary, so it is built before any event is written.
    services.roomLifecycle = createRoomLifecycle({
      rooms,
      users: services.users,
      serverName: config.server_name,
      defaultRoomVersion: config.default_room_version,
      clock: Date.now,
      logger,
    });
    // Typing, receipts, read markers and presence (src/ephemeral); activity there counts for presence.
    const presence = createPresenceService({
      db,
      notifier,
      serverName: config.server_name,
      enabled: config.presence.enabled,
      onListenerError: (err) => logger.error({ err }, 'presence listener failed'),
    });
    const onActivity = (userId: string): void => presence.bumpActive(userId);
    services.presence = presence;
    services.typing = createTypingService({
      store,
      notifier,
      serverName: config.server_name,
      onActivity,
      onListenerError: (err) => logger.error({ err }, 'typing listener failed'),
    });
    services.receipts = createReceiptsService({
      db,
      store,
      notifier,
      serverName: config.server_name,
      users: services.users,
      onActivity,
      onListenerError: (err) => logger.error({ err }, 'receipt listener failed'),
    });
    stops.push(() => presence.close(), () => services.typing?.close());
    // Push: rules, notification counts evaluated in each event's transaction, pushers, /notifications.
    // Push gateways are URLs users choose: deliveries go through the outbound IP range policy.
    const pushFetch = createGuardedFetch(new IpRangePolicy(config.ip_range_blacklist, config.ip_range_whitelist));
    const push = createPushService({ db, store, notifier, users: services.users, serverName: config.server_name, logger, receipts: services.receipts, delivery: { fetch: pushFetch } });
    services.push = push;
    stops.push(() => push.close());
    // E2EE (keys, to-device, key backup): its derived writer records joins and leaves for device
    // lists; /sync reads its ToDeviceSource and DeviceKeysSource.
    // Its federation hooks are filled in once the federation parts exist (below).
    const e2eeFederation: E2eeFederation = {};
    const e2ee = createE2eeService({ db, store, users: services.users, serverName: config.server_name, notifier, clock: Date.now, logger, federation: e2eeFederation });
    Object.assign(services, { e2ee, toDevice: e2ee.toDevice, deviceKeys: e2ee.deviceKeys });
    stops.push(() => e2ee.close());
    // Media repository and URL previews (src/media); the federation side plugs in the fetching of
    // remote media with media.repo.setRemoteFetcher().
    const media = createMediaService({ db, config, clock: Date.now, logger });
    services.media = media;
    stops.push(() => void media.close());
    // Federation transport and trust: the signed HTTPS client (discovery, pools, IP ranges) and the
    // key ring (remote keys, notary); the other federation parts add theirs to services.federation.
    const federationClient = createFederationClient({ config, serverName: config.server_name, signingKey: serverKeys.current, logger, clock: Date.now });
    const keyRing = createKeyRing({ db, client: federationClient, config, serverName: config.server_name, serverKeys, clock: Date.now, logger });
    services.federation = { client: federationClient, keyRing };
    // Inbound events (/send, serving events, backfill): its derived writer keeps the backward
    // extremities, so it is built before any event is written.
    services.federation.inbound = createInboundFederation({
      db,
      store,
      rooms,
      keyRing,
      client: federationClient,
      serverName: config.server_name,
      clock: Date.now,
      logger,
      typing: services.typing,
      receipts: services.receipts,
      presence,
      e2ee,
    });
    // Rooms across servers (make/send join, leave, knock, invites) and the queries both ways
    // (directory, profile, devices, keys, public rooms, hierarchy, OpenID, media): the lifecycle's
    // remote hooks, the E2EE service's remote key queries, the media repository's remote fetcher.
    const users = services.users;
    const queries = new FederationQueries({
      serverName: config.server_name,
      store,
      client: federationClient,
      users,
      e2ee,
      roomLifecycle: services.roomLifecycle,
      openIdTokens: services.openIdTokens,
      clock: Date.now,
      logger,
    });
    const membership = createMembershipFederation({
      store,
      rooms,
      keyRing,
      client: federationClient,
      serverName: config.server_name,
      signingKey: serverKeys.current,
      localUserExists: async (userId) => {
        const u = await users.store.getUser(userId);
        return u !== undefined && !u.deactivated;
      },
      sender: () => (services.federation as { sender?: PduFanout } | undefined)?.sender,
      pipeline: () => services.federation?.inbound?.pipeline,
      clock: Date.now,
      logger,
    });
    Object.assign(services.federation, { membership, queries });
    services.roomLifecycle.setRemoteHooks(remoteRoomHooks(membership, queries));
    e2eeFederation.queryKeys = (server, deviceKeys, timeoutMs) => queries.queryKeys(server, deviceKeys, timeoutMs);
    e2eeFederation.claimKeys = (server, oneTimeKeys, timeoutMs) => queries.claimKeys(server, oneTimeKeys, timeoutMs);
    const mediaFetcher = createRemoteMediaFetcher({ client: federationClient, ipPolicy: federationClient.ipPolicy, tls: tlsOptionsFromConfig(config), logger });
    media.repo.setRemoteFetcher(mediaFetcher);
    stops.push(() => void mediaFetcher.close());
    // Outbound federation (src/federation/sender): persisted per-destination queues; its derived
    // writer records the fan-out of each local event inside the event's own transaction. Off with
    // Synapse's `send_federation: false`, or when no listener serves federation (peers could not
    // fetch our keys to check what we send). Stopped before the client, so shutdown is no failure.
    if (config.send_federation && config.listeners.some((l) => l.mounts.includes('federation'))) {
      const sender = createFederationSender({ store, client: federationClient, serverName: config.server_name, clock: Date.now, logger });
      const senderSources = connectSenderSources(sender, {
        db,
        serverName: config.server_name,
        clock: Date.now,
        logger,
        typing: services.typing,
        receipts: services.receipts,
        presence,
        store,
        e2eeHooks: e2eeFederation,
        e2eeKeys: e2ee.keyStore,
      });
      services.federation.sender = sender;
      stops.push(() => {
        senderSources.disconnect();
        void sender.close();
      });
    }
    stops.push(() => void federationClient.close());
    // Account moderation and the gate of every authenticated client request (locks, suspension,
    // client addresses for whois), the Synapse admin API, room lookups (src/admin).
    const lifecycle = services.roomLifecycle;
    services.admin = await createAdminService({
      db,
      store,
      users: services.users,
      serverName: config.server_name,
      clock: Date.now,
      logger,
      resolveAlias: (alias) => lifecycle.getAlias(alias),
    });
    // /sync reads every stream above; one service per server (its wake index serves all listeners).
    const sync = buildSyncService(services);
    if (sync) {
      services.sync = sync;
      stops.push(() => sync.close());
    }

    const addresses: ListeningAddress[] = [];
    for (const listener of config.listeners) {
      addresses.push(...(await startListener(listener, services, tls, apps, logger)));
    }
    if (addresses.length === 0) logger.warn('no listener is configured: the server answers no requests');
    return { addresses, close: once(closeAll) };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

async function startListener(
  listener: ListenerConfig,
  services: AppServices,
  tls: { cert: Buffer; key: Buffer } | undefined,
  apps: FastifyInstance[],
  logger: Logger,
): Promise<ListeningAddress[]> {
  const out: ListeningAddress[] = [];
  let boundDualStack = false;
  for (const host of listener.bind_addresses) {
    const app = buildApp(services, {
      resources: listener.mounts,
      ...(listener.tls && tls ? { https: tls } : {}),
      trustProxy: listener.x_forwarded,
    });
    try {
      await app.listen({ host, port: listener.port });
    } catch (e) {
      await app.close();
      const code = (e as NodeJS.ErrnoException).code;
      // On dual-stack systems "::" already accepts IPv4, so 0.0.0.0 on the same port is taken (as
      // Synapse handles it); and "::" is unavailable where IPv6 is off, while 0.0.0.0 still works.
      if (host === '0.0.0.0' && code === 'EADDRINUSE' && boundDualStack) continue;
      if (host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL') && listener.bind_addresses.length > 1) {
        logger.warn(`cannot listen on [::]:${listener.port} (${code}); IPv6 seems unavailable`);
        continue;
      }
      throw new Error(`cannot listen on ${formatUrl(listener.tls, host, listener.port)}: ${(e as Error).message}`);
    }
    if (host === '::') boundDualStack = true;
    apps.push(app);
    const url = formatUrl(listener.tls, host, listener.port);
    logger.info(`listening on ${url} (${listener.mounts.join(', ')})`);
    out.push({ url, host, port: listener.port, tls: listener.tls, resources: listener.mounts });
  }
  return out;
}

/** app.close() waits for in-flight requests; after `graceMs` the remaining connections are cut. */
async function closeBounded(app: FastifyInstance, graceMs: number, logger: Logger): Promise<void> {
  const closing = app.close();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), graceMs);
    timer.unref();
  });
  const late = await Promise.race([closing.then(() => false), timedOut]);
  clearTimeout(timer);
  if (late) {
    logger.warn(`requests still running after ${graceMs} ms; closing their connections`);
    app.server.closeAllConnections();
    await closing;
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
