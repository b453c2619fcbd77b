// Signed federation requests whose JSON answer is kept with its text (used by inbound fetches and the
// membership handshakes): the answer is read as text (capped), parsed, and the raw text of each PDU
// sliced out, so each PDU is checked strictly for its room version and stored as the remote sent it.
import type { Readable } from 'node:stream';
import { parseJson } from '../../core/json/parse.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/json/types.js';
import { FederationError, type FederationClient, type FederationMethod } from '../client.js';
import type { RawPdu } from './pdu-checks.js';
import { topLevelArrayElements } from './raw-json.js';

export interface FetchOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
}

async function readCapped(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += b.length;
    if (total > maxBytes) {
      body.destroy();
      throw new RangeError(`response exceeds ${maxBytes} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A signed request; a 2xx JSON answer (any value: the v1 send_join/send_leave/invite answers are
 * `[200, {...}]` arrays) is returned with its text. Throws FederationError otherwise, its message
 * carrying the remote's errcode and `error` text.
 */
export async function requestJson(
  client: FederationClient,
  destination: string,
  method: FederationMethod,
  path: string,
  body: JsonValue | undefined,
  o: FetchOptions,
): Promise<{ value: JsonValue; text: string }> {
  const where = `${method} ${destination}${path.split('?')[0]}`;
  const res = await client.requestRaw(destination, method, path, {
    timeoutMs: o.timeoutMs,
    maxBytes: o.maxBytes,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(body !== undefined ? { body } : {}),
  });
  let text: string;
  try {
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > o.maxBytes) {
      res.body.destroy();
      throw new RangeError(`response of ${declared} bytes exceeds ${o.maxBytes}`);
    }
    text = utf8.decode(await readCapped(res.body, o.maxBytes));
  } catch (e) {
    throw new FederationError(destination, 0, `${where}: ${(e as Error).message}`, { cause: e });
  }
  let value: JsonValue | undefined;
  try {
    value = text.length > 0 ? parseJson(text) : undefined;
  } catch {
    value = undefined;
  }
  if (res.status < 200 || res.status >= 300) {
    const errcode = isJsonObject(value) && typeof value.errcode === 'string' ? value.errcode : undefined;
    const error = isJsonObject(value) && typeof value.error === 'string' ? `: ${value.error}` : '';
    throw new FederationError(destination, res.status, `${where}: ${res.status} ${errcode ?? ''}${error}`.trim(), {
      ...(errcode ? { errcode } : {}),
      body: value ?? text.slice(0, 1000),
    });
  }
  if (value === undefined) throw new FederationError(destination, 0, `${where}: the answer is not JSON`, { errcode: 'M_NOT_JSON' });
  return { value, text };
}

/** requestJson for endpoints whose answer must be a JSON object. Throws FederationError. */
export async function requestJsonText(
  client: FederationClient,
  destination: string,
  method: FederationMethod,
  path: string,
  body: JsonValue | undefined,
  o: FetchOptions,
): Promise<{ value: JsonObject; text: string }> {
  const { value, text } = await requestJson(client, destination, method, path, body, o);
  if (!isJsonObject(value)) {
    throw new FederationError(destination, 0, `${method} ${destination}${path.split('?')[0]}: the answer is not a JSON object`, { errcode: 'M_NOT_JSON' });
  }
  return { value, text };
}

/** The PDUs of `value[key]` with their raw texts (texts left out when they cannot be sliced). */
export function rawPdusOf(value: JsonObject, text: string | undefined, key: string): RawPdu[] {
  const list = value[key];
  if (!Array.isArray(list)) return [];
  const slices = text === undefined ? null : topLevelArrayElements(text, key);
  const aligned = slices !== null && slices.length === list.length;
  return list.map((pdu, i) => ({ pdu, text: aligned ? slices[i] : undefined }));
}
