// PUT /_matrix/federation/v1/send/{txnId}: an inbound transaction of PDUs and EDUs (src/federation/inbound).
import type { FastifyInstance } from 'fastify';
import { JsonParseError, parseJson } from '../../core/json/parse.js';
import { MatrixError } from '../../errors.js';
import { MAX_TXN_BODY_BYTES } from '../../federation/inbound/index.js';
import type { AppServices } from '../app.js';
import { federationRoute, parseBodyKeepingText } from './route.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The /send body as received (each PDU's own text is sliced from it). */
    federationBodyText?: string;
    /** Whether the whole body is canonical-JSON strict (integers only, in range). */
    federationBodyStrict?: boolean;
  }
}

export function federationSendRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const inbound = services.federation?.inbound;
    if (!inbound) return;
    // This plugin's own body parser: the same strict JSON as the app's, keeping the text. Strict
    // numbers first: when the whole body passes, no PDU needs parsing again for its room version
    // (most transactions); otherwise each PDU is parsed from its own text.
    parseBodyKeepingText(app, (request, text) => {
      let value: unknown;
      let strict = true;
      try {
        value = parseJson(text, { strictNumbers: true });
      } catch (e) {
        if (!(e instanceof JsonParseError) || e.kind !== 'value') throw e;
        value = parseJson(text);
        strict = false;
      }
      request.federationBodyText = text;
      request.federationBodyStrict = strict;
      return value;
    });
    federationRoute(app, services, {
      method: 'PUT',
      path: '/v1/send/:txnId',
      bodyLimit: MAX_TXN_BODY_BYTES,
      handler: async ({ req, origin, params, body }) => {
        if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.', 400);
        return inbound.transactions.receive(origin, params.txnId!, body, req.federationBodyText, req.federationBodyStrict ?? false);
      },
    });
  };
}
