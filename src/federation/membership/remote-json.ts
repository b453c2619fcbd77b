// The answers of the membership handshakes (v1 `[200, {...}]` unwrapping, endpoint fallback) and the
// mapping of a failed federation request to the error our client sees. The signed request itself is
// requestJson in ../inbound/remote.ts.
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import { FederationError } from '../client.js';

/**
 * The object of a v1 `[200, {...}]` answer with its text: the first element is a number, so the
 * object's text runs from the first `{` to the last `}`.
 */
export function unwrapV1(value: JsonValue, text: string): { value: JsonObject; text: string } | null {
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'number' || !isJsonObject(value[1])) return null;
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end < start) return null;
  return { value: value[1], text: text.slice(start, end + 1) };
}

/**
 * Whether a failed request means "this endpoint may not exist there": 404, or 400 M_UNRECOGNIZED
 * (the v2 membership endpoints: "fall back to v1 on a 400 or 404", as Synapse does).
 */
export function isUnknownEndpoint(e: unknown): boolean {
  return e instanceof FederationError && (e.status === 404 || (e.status === 400 && e.errcode === 'M_UNRECOGNIZED'));
}

/**
 * The error our client sees when another server refused or failed: its 4xx answers pass through
 * (403 M_FORBIDDEN, 404, M_INCOMPATIBLE_ROOM_VERSION...), except M_MISSING_PARAM / M_INVALID_PARAM,
 * which the spec says become a 5xx for the client; network failures and 5xx become 502.
 */
export function clientErrorOf(e: unknown, what: string): MatrixError {
  if (e instanceof MatrixError) return e;
  if (e instanceof FederationError) {
    const remote = isJsonObject(e.body) && typeof e.body.error === 'string' ? e.body.error : e.message;
    if (e.status >= 400 && e.status < 500 && e.errcode !== 'M_MISSING_PARAM' && e.errcode !== 'M_INVALID_PARAM' && e.status !== 401 && e.status !== 429) {
      const extra: Record<string, unknown> = {};
      if (isJsonObject(e.body) && typeof e.body.room_version === 'string') extra.room_version = e.body.room_version;
      return new MatrixError(e.errcode ?? 'M_UNKNOWN', `${what}: ${remote}`, e.status, Object.keys(extra).length > 0 ? extra : undefined);
    }
    return new MatrixError('M_UNKNOWN', `${what}: ${e.destination}: ${remote}`, 502);
  }
  return new MatrixError('M_UNKNOWN', `${what}: ${(e as Error)?.message ?? String(e)}`, 502);
}
