// URL previews (GET /preview_url): fetches the page through the SSRF-guarded fetcher, takes its
// Open Graph data, stores its og:image as local media (og:image becomes an mxc:// URI) and keeps
// the answer per URL for an hour (database), with concurrent requests for one URL sharing a fetch
// and recent failures remembered briefly so a bad URL is not fetched again and again.
import type { Logger } from 'pino';
import type { Config, URL_PREVIEW_BLACKLIST_FIELDS } from '../../config/schema.js';
import type { JsonObject } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import type { MediaRepository } from '../repository.js';
import { AddressPolicy } from './address-policy.js';
import { decodeHtml, parseOpenGraph } from './opengraph.js';
import { createSafeFetcher, discardBody, fetchFailure, readLimited, type SafeFetcher, type SafeResponse } from './safe-fetch.js';

/** A preview is reused for an hour (Synapse: ONE_HOUR). */
export const PREVIEW_TTL_MS = 60 * 60 * 1000;
/** Images stored for previews are deleted after this long (clients may still show old previews meanwhile). */
export const PREVIEW_IMAGE_TTL_MS = 2 * 24 * 60 * 60 * 1000;
/** How often expired previews and their images are cleaned up. */
const EXPIRY_INTERVAL_MS = 10 * 60 * 1000;
/** Failed previews are remembered for this long. */
const FAILURE_TTL_MS = 5 * 60 * 1000;
const MAX_REMEMBERED_FAILURES = 1000;
/** Synapse's limits on Open Graph keys and values; longer ones are dropped. */
const OG_KEY_MAX = 50;
const OG_VALUE_MAX = 1000;
const MAX_URL_LENGTH = 8192;

export type UrlPreviewConfig = Pick<
  Config,
  'url_preview_ip_range_blacklist' | 'url_preview_ip_range_whitelist' | 'url_preview_url_blacklist' | 'url_preview_accept_language' | 'max_spider_size'
>;

export interface UrlPreviewerOptions {
  repo: MediaRepository;
  config: UrlPreviewConfig;
  clock?: () => number;
  logger?: Logger;
  /** Time limit of each download (page, then image); default 30 s. */
  timeoutMs?: number;
}

export interface UrlPreviewer {
  /** The Open Graph answer for `url` as of `ts` (default now), fetching it when no fresh one is kept. */
  preview(url: string, userId: string, ts?: number): Promise<JsonObject>;
  /** Deletes expired previews and preview images older than two days (also run every 10 minutes). */
  expireCache(): Promise<{ previews: number; images: number }>;
  close(): Promise<void>;
}

type BlacklistField = (typeof URL_PREVIEW_BLACKLIST_FIELDS)[number];

/** A Python fnmatch glob (`*`, `?`, `[...]`, `[!...]`) as an anchored regular expression. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let set = glob.slice(i + 1, close);
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        re += `[${set.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** The URL's parts under Python urlsplit's names (as url_preview_url_blacklist entries use them). */
function urlField(u: URL, field: BlacklistField): string | undefined {
  switch (field) {
    case 'scheme':
      return u.protocol.replace(/:$/, '');
    case 'netloc': {
      const auth = u.username ? `${u.username}${u.password ? `:${u.password}` : ''}@` : '';
      return auth + u.host;
    }
    case 'hostname':
      return u.hostname.replace(/^\[|\]$/g, '');
    case 'port':
      return u.port || undefined;
    case 'path':
      return u.pathname;
    case 'query':
      return u.search.replace(/^\?/, '');
    case 'fragment':
      return u.hash.replace(/^#/, '');
    case 'username':
      return u.username || undefined;
    case 'password':
      return u.password || undefined;
  }
}

/** Whether `u` matches an entry of url_preview_url_blacklist (every field of one entry matches). */
export function isUrlBlacklisted(u: URL, entries: UrlPreviewConfig['url_preview_url_blacklist']): boolean {
  return entries.some((entry) => {
    const fields = Object.entries(entry) as [BlacklistField, string | undefined][];
    if (fields.length === 0) return false;
    return fields.every(([field, pattern]) => {
      if (pattern === undefined) return true;
      const value = urlField(u, field);
      if (value === undefined) return false;
      // A pattern starting with ^ is a regular expression matched at the start (Python re.match).
      return pattern.startsWith('^') ? new RegExp(pattern).test(value) : globToRegExp(pattern).test(value);
    });
  });
}

const isHtml = (ct: string) => /^\s*(text\/html|application\/xhtml)/i.test(ct);
const isImage = (ct: string) => /^\s*image\//i.test(ct);

/** The file name a response names in Content-Disposition, else the last segment of its URL path. */
function responseFileName(res: SafeResponse): string | undefined {
  const cd = res.headers['content-disposition'];
  const header = Array.isArray(cd) ? cd[0] : cd;
  if (header) {
    const star = /filename\*\s*=\s*(?:utf-8|UTF-8)''([^;]+)/.exec(header);
    if (star) {
      try {
        return decodeURIComponent(star[1]!.trim());
      } catch {
        /* fall through */
      }
    }
    const plain = /filename\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(header);
    if (plain) return plain[1] ?? plain[2];
  }
  const last = res.url.pathname.split('/').pop();
  if (!last) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

export function createUrlPreviewer(opts: UrlPreviewerOptions): UrlPreviewer {
  const { repo, config } = opts;
  const clock = opts.clock ?? Date.now;
  const log = opts.logger;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const policy = new AddressPolicy(config.url_preview_ip_range_blacklist, config.url_preview_ip_range_whitelist);
  const fetcher: SafeFetcher = createSafeFetcher(policy);
  const inflight = new Map<string, Promise<JsonObject>>();
  const failures = new Map<string, { error: MatrixError; until: number }>();
  const headers = {
    'accept-language': config.url_preview_accept_language.join(', '),
    // Some sites only give Open Graph data to crawlers; no version, to leak nothing.
    'user-agent': 'tsmatrix (bot; URL preview)',
  };

  /** Stores an image response as local media; returns the og:image* fields for it. */
  async function storeImage(res: SafeResponse, pageUrl: string, userId: string): Promise<JsonObject> {
    if (res.contentLength !== undefined && res.contentLength > config.max_spider_size) {
      discardBody(res.body);
      throw new MatrixError('M_TOO_LARGE', `Requested file is too large > ${config.max_spider_size} bytes`, 502);
    }
    let row;
    try {
      row = await repo.storeFetched({
        stream: res.body,
        contentType: res.contentType,
        fileName: responseFileName(res),
        userId,
        urlCache: pageUrl,
        maxBytes: config.max_spider_size,
        tooLarge: () => new MatrixError('M_TOO_LARGE', `Requested file is too large > ${config.max_spider_size} bytes`, 502),
      });
    } catch (e) {
      // Stop the download (the store only stops reading it).
      discardBody(res.body);
      throw fetchFailure(e);
    }
    const file = await repo.getMedia(repo.serverName, row.mediaId);
    const out: JsonObject = {
      'og:image': `mxc://${repo.serverName}/${row.mediaId}`,
      'og:image:type': file.contentType,
      'matrix:image:size': file.length,
    };
    const info = await repo.imageInfo(file);
    if (info) {
      out['og:image:width'] = info.width;
      out['og:image:height'] = info.height;
    }
    return out;
  }

  async function fetchPreview(url: URL, userId: string): Promise<JsonObject> {
    const res = await fetcher.get(url, {
      headers,
      acceptContentType: (ct) => isHtml(ct) || isImage(ct),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (isImage(res.contentType)) {
      const img = await storeImage(res, url.href, userId);
      const name = responseFileName(res);
      return name ? { 'og:description': name, ...img } : img;
    }
    if (res.contentLength !== undefined && res.contentLength > config.max_spider_size) {
      discardBody(res.body);
      throw new MatrixError('M_TOO_LARGE', `Requested file is too large > ${config.max_spider_size} bytes`, 502);
    }
    const bytes = await readLimited(res.body, config.max_spider_size);
    const og: JsonObject = parseOpenGraph(decodeHtml(bytes, res.contentType));
    const image = og['og:image'];
    if (typeof image === 'string') {
      delete og['og:image'];
      // Relative image URLs are relative to the page, after redirects.
      let imageUrl: URL | undefined;
      try {
        imageUrl = new URL(image, res.url);
      } catch {
        imageUrl = undefined;
      }
      if (imageUrl && (imageUrl.protocol === 'http:' || imageUrl.protocol === 'https:') && !isUrlBlacklisted(imageUrl, config.url_preview_url_blacklist)) {
        try {
          const imgRes = await fetcher.get(imageUrl, { headers, acceptContentType: isImage, signal: AbortSignal.timeout(timeoutMs) });
          Object.assign(og, await storeImage(imgRes, url.href, userId));
        } catch (e) {
          // A preview without its image is still a preview.
          log?.debug({ err: e, url: imageUrl.href }, 'URL preview image not fetched');
        }
      }
    }
    return og;
  }

  function prune(og: JsonObject): JsonObject {
    for (const [k, v] of Object.entries(og)) {
      if (k.length > OG_KEY_MAX || String(v).length > OG_VALUE_MAX) delete og[k];
    }
    return og;
  }

  async function previewUncached(url: URL, userId: string, ts: number): Promise<JsonObject> {
    const cached = await repo.store.getUrlPreview(url.href, ts);
    if (cached && cached.expiresTs > ts && cached.responseCode >= 200 && cached.responseCode < 300) {
      return JSON.parse(cached.ogJson) as JsonObject;
    }
    const failed = failures.get(url.href);
    if (failed && failed.until > clock()) throw failed.error;
    const fetchedTs = clock();
    let og: JsonObject;
    try {
      og = prune(await fetchPreview(url, userId));
    } catch (e) {
      const error = e instanceof MatrixError ? e : new MatrixError('M_UNKNOWN', 'Failed to generate a preview', 502);
      if (!(e instanceof MatrixError)) log?.warn({ err: e, url: url.href }, 'URL preview failed');
      if (failures.size >= MAX_REMEMBERED_FAILURES) failures.delete(failures.keys().next().value!);
      failures.set(url.href, { error, until: clock() + FAILURE_TTL_MS });
      throw error;
    }
    const image = og['og:image'];
    await repo.store.putUrlPreview({
      url: url.href,
      fetchedTs,
      expiresTs: fetchedTs + PREVIEW_TTL_MS,
      responseCode: 200,
      ogJson: JSON.stringify(og),
      mediaId: typeof image === 'string' ? image.slice(image.lastIndexOf('/') + 1) : null,
    });
    return og;
  }

  async function expireCache(): Promise<{ previews: number; images: number }> {
    const now = clock();
    const previews = await repo.store.deleteUrlPreviewsBefore(now);
    let images = 0;
    for (;;) {
      const batch = await repo.store.urlCacheMediaBefore(now - PREVIEW_IMAGE_TTL_MS, 100);
      for (const mediaId of batch) await repo.deleteLocalMedia(mediaId);
      images += batch.length;
      if (batch.length < 100) break;
    }
    return { previews, images };
  }
  const expiryTimer = setInterval(() => {
    expireCache().catch((err: unknown) => log?.warn({ err }, 'URL preview cache expiry failed'));
  }, EXPIRY_INTERVAL_MS);
  expiryTimer.unref();

  return {
    expireCache,
    async preview(rawUrl, userId, ts) {
      if (rawUrl.length > MAX_URL_LENGTH) throw new MatrixError('M_INVALID_PARAM', 'URL is too long', 400);
      let url: URL;
      try {
        url = new URL(rawUrl);
      } catch {
        throw new MatrixError('M_INVALID_PARAM', 'Invalid URL', 400);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new MatrixError('M_INVALID_PARAM', 'Only http and https URLs can be previewed', 400);
      if (isUrlBlacklisted(url, config.url_preview_url_blacklist)) throw new MatrixError('M_UNKNOWN', 'URL blocked by url pattern blocklist entry', 403);
      // A future ts would never find a cached preview; it means "now".
      const at = Math.min(ts ?? clock(), clock());
      const key = `${url.href}\u0000${at >= clock() - PREVIEW_TTL_MS ? 'recent' : at}`;
      let job = inflight.get(key);
      if (!job) {
        job = previewUncached(url, userId, at).finally(() => inflight.delete(key));
        inflight.set(key, job);
      }
      // Each caller gets its own copy: the answer is shaped further by the route.
      return { ...(await job) };
    },
    async close() {
      clearInterval(expiryTimer);
      await fetcher.close();
    },
  };
}
