// GET /.well-known/matrix/client and GET /.well-known/matrix/server (client-server "Server Discovery",
// server-server "Resolving server names"), served as Synapse serves them.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from './app.js';
import { MatrixError } from '../errors.js';
import { parseServerName } from '../core/ids.js';

/** The client well-known: only with public_baseurl set (a wrong base URL is worse than none). */
export function clientWellKnown(config: { public_baseurl?: string | undefined }): { 'm.homeserver': { base_url: string } } | undefined {
  if (!config.public_baseurl) return undefined;
  return { 'm.homeserver': { base_url: config.public_baseurl } };
}

/**
 * The server well-known (Synapse `serve_server_wellknown`): whoever serves https://<server_name>/
 * reaches this server, so federation is delegated to port 443 of the host (or the server name's own
 * explicit port).
 */
export function serverWellKnown(config: { server_name: string; serve_server_wellknown: boolean }): { 'm.server': string } | undefined {
  if (!config.serve_server_wellknown) return undefined;
  const parsed = parseServerName(config.server_name);
  const host = parsed ? (parsed.kind === 'ipv6' ? `[${parsed.host}]` : parsed.host) : config.server_name;
  const port = parsed?.port ?? 443;
  return { 'm.server': `${host}:${port}` };
}

export function wellKnownRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const client = clientWellKnown(services.config);
    const server = serverWellKnown(services.config);
    app.get('/.well-known/matrix/client', async () => {
      if (!client) throw new MatrixError('M_NOT_FOUND', '.well-known not available', 404);
      return client;
    });
    app.get('/.well-known/matrix/server', async () => {
      if (!server) throw new MatrixError('M_NOT_FOUND', '.well-known not available', 404);
      return server;
    });
  };
}
