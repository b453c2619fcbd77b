// OpenID tokens (client-server "OpenID", POST /user/{userId}/openid/request_token): short-lived
// tokens a user hands to a third party, which asks the federation API's /openid/userinfo who they
// belong to (lookupUser). Stored hashed in openid_tokens (migration 0702).
import { randomBytes } from 'node:crypto';
import type { Database } from '../store/index.js';
import { hashToken } from '../users/tokens.js';

/** Token lifetime: one hour, as Synapse issues them. */
export const OPENID_TOKEN_LIFETIME_MS = 60 * 60 * 1000;

export interface OpenIdToken {
  access_token: string;
  token_type: 'Bearer';
  matrix_server_name: string;
  /** Seconds. */
  expires_in: number;
}

export interface OpenIdTokens {
  /** Issues a token for `userId` (the caller checks that the requester is that user). */
  issue(userId: string): Promise<OpenIdToken>;
  /** The user a token was issued to, or undefined when unknown or expired (for /_matrix/federation/v1/openid/userinfo). */
  lookupUser(token: string): Promise<string | undefined>;
}

export function createOpenIdTokens(opts: { db: Database; serverName: string; clock?: () => number; lifetimeMs?: number }): OpenIdTokens {
  const now = opts.clock ?? Date.now;
  const lifetime = opts.lifetimeMs ?? OPENID_TOKEN_LIFETIME_MS;
  const q = {
    insert: opts.db.prepare<[Buffer, string, number]>('INSERT INTO openid_tokens (token_hash, user_id, valid_until) VALUES (?, ?, ?)'),
    get: opts.db.prepare<[Buffer, number], { user_id: string }>('SELECT user_id FROM openid_tokens WHERE token_hash = ? AND valid_until > ?'),
    prune: opts.db.prepare<[number]>('DELETE FROM openid_tokens WHERE valid_until <= ?'),
  };
  return {
    async issue(userId) {
      const t = now();
      // Expired tokens are dropped as new ones are issued (indexed on valid_until): the table stays small.
      q.prune.run(t);
      const token = randomBytes(24).toString('base64url');
      q.insert.run(hashToken(token), userId, t + lifetime);
      return { access_token: token, token_type: 'Bearer', matrix_server_name: opts.serverName, expires_in: Math.floor(lifetime / 1000) };
    },
    async lookupUser(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > 512) return undefined;
      return q.get.get(hashToken(token), now())?.user_id;
    },
  };
}
