// GET /.well-known/matrix/support (client-server API "Server support discovery"): the admin contacts and
// support page of config `support`; 404 M_NOT_FOUND while it is not set.
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { JsonObject } from '../../core/json/types.js';
import type { AppServices } from '../app.js';

/** The well-known support document of the config's `support` section, or undefined when unset. */
export function supportDocument(
  support: { contacts?: readonly Readonly<Record<string, string | undefined>>[] | undefined; support_page?: string | undefined } | undefined,
): JsonObject | undefined {
  if (!support) return undefined;
  const out: JsonObject = {};
  if (support.contacts && support.contacts.length > 0) {
    out.contacts = support.contacts.map((c) => {
      const contact: JsonObject = {};
      for (const [k, v] of Object.entries(c)) if (v !== undefined) contact[k] = v;
      return contact;
    });
  }
  if (support.support_page) out.support_page = support.support_page;
  return Object.keys(out).length > 0 ? out : undefined;
}

export function serverSupportRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const doc = supportDocument(services.config.support);
    app.get('/.well-known/matrix/support', async () => {
      if (!doc) throw new MatrixError('M_NOT_FOUND', 'No server support information available', 404);
      return doc;
    });
  };
}
