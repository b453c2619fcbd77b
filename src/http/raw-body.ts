// The bytes of a federation request's JSON body, kept beside the parsed value for the request's
// lifetime: an X-Matrix signature over a body holding numbers JSON.parse reads differently from
// Python ("2.0") can only be checked against what was sent (src/http/federation/route.ts).
import type { FastifyRequest } from 'fastify';

const bodies = new WeakMap<FastifyRequest, Uint8Array>();

/** Keeps the body of a federation request (other requests are not kept). */
export function rememberRawBody(request: FastifyRequest, body: Uint8Array): void {
  if (request.url.startsWith('/_matrix/federation/')) bodies.set(request, body);
}

export function rawBodyOf(request: FastifyRequest): Uint8Array | undefined {
  return bodies.get(request);
}
