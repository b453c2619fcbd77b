// The one way the HTTP harnesses send a request through Fastify's inject: JSON body (or a raw
// one), bearer token, extra headers, client address; the answer with its JSON body parsed.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';

export interface Res {
  status: number;
  body: Record<string, any>;
  raw: LightMyRequestResponse;
}

export interface InjectJsonOptions {
  token?: string;
  /** Sent as JSON, with content-type application/json. */
  body?: unknown;
  /** Sent as is, without a content type (wins over `body`). */
  rawBody?: string;
  headers?: Record<string, string>;
  remoteAddress?: string;
}

export async function injectJson(app: FastifyInstance, method: InjectOptions['method'], url: string, o: InjectJsonOptions = {}): Promise<Res> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let payload: string | undefined;
  if (o.rawBody !== undefined) payload = o.rawBody;
  else if (o.body !== undefined) {
    payload = JSON.stringify(o.body);
    headers['content-type'] = 'application/json';
  }
  const raw = await app.inject({
    method,
    url,
    headers,
    ...(payload !== undefined ? { payload } : {}),
    ...(o.remoteAddress ? { remoteAddress: o.remoteAddress } : {}),
  });
  let body: Record<string, any> = {};
  if (raw.body.length > 0 && (raw.headers['content-type'] ?? '').toString().includes('json')) body = raw.json();
  return { status: raw.statusCode, body, raw };
}
