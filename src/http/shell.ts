// Small pieces of the HTTP shell kept out of app.ts: the CORS headers, access-token redaction for
// logs, the route table used to tell "unknown path" (404) from "wrong method" (405), and the query
// parameters as route handlers see them.

/**
 * CORS headers sent on every response (client-server API "Web Browser Clients"). HEAD is listed
 * because GET routes answer it too (the spec's note allows adding methods), and Date because some
 * browser clients send it.
 */
export const CORS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization, Date',
});

const ACCESS_TOKEN_RE = /([?&]access_token=)[^&#]*/gi;

/** The URL with the value of any `access_token` query parameter replaced, for logs. */
export function redactUrl(url: string): string {
  return url.indexOf('access_token') === -1 ? url : url.replace(ACCESS_TOKEN_RE, '$1<redacted>');
}

export interface RouteMatcher {
  /** Records a Fastify route pattern (`/a/:b/*`) served for these methods. */
  add(pattern: string, methods: readonly string[]): void;
  /** True when some route matches the path of `url` but none of them serves `method`. */
  matchesOtherMethod(method: string, url: string): boolean;
}

/**
 * Turns a Fastify/find-my-way route pattern into an anchored regular expression over the raw path:
 * `:name` (optionally followed by a `(regex)` constraint) matches one non-empty segment part,
 * `*` matches the rest, `::` is a literal colon.
 */
export function routePatternToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === ':' && pattern[i + 1] === ':') {
      re += ':';
      i++;
    } else if (c === ':') {
      // Parameter name runs to the next '/', '-', '.', '(' or ':' (find-my-way's separators).
      let j = i + 1;
      while (j < pattern.length && !'/-.(:'.includes(pattern[j]!)) j++;
      if (pattern[j] === '(') {
        let depth = 0;
        for (; j < pattern.length; j++) {
          if (pattern[j] === '\\') j++;
          else if (pattern[j] === '(') depth++;
          else if (pattern[j] === ')' && --depth === 0) {
            j++;
            break;
          }
        }
      }
      re += '[^/]+';
      i = j - 1;
    } else if (c === '*') {
      re += '.*';
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(re + '$');
}

export function routeMatcher(): RouteMatcher {
  const routes: { re: RegExp; methods: Set<string> }[] = [];
  const byPattern = new Map<string, { re: RegExp; methods: Set<string> }>();
  return {
    add(pattern, methods) {
      let entry = byPattern.get(pattern);
      if (!entry) {
        entry = { re: routePatternToRegExp(pattern), methods: new Set() };
        byPattern.set(pattern, entry);
        routes.push(entry);
      }
      for (const m of methods) entry.methods.add(m.toUpperCase());
    },
    matchesOtherMethod(method, url) {
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const m = method.toUpperCase();
      let matched = false;
      for (const r of routes) {
        if (!r.re.test(path)) continue;
        if (r.methods.has(m)) return false;
        matched = true;
      }
      return matched;
    },
  };
}

/** Query parameters with one value each: a repeated parameter gives its first (see `req.query` for all). */
export function firstValues(q: unknown): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (typeof q !== 'object' || q === null) return out;
  for (const [k, v] of Object.entries(q)) {
    const first = Array.isArray(v) ? v[0] : v;
    out[k] = typeof first === 'string' ? first : undefined;
  }
  return out;
}
