// User-interactive authentication (spec "User-Interactive Authentication API"): sessions kept in
// memory with an expiry, each bound to the operation (and user) that started it.
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import { generateOpaqueId } from './tokens.js';

export const STAGE_DUMMY = 'm.login.dummy';
export const STAGE_PASSWORD = 'm.login.password';

export interface UiaFlow {
  stages: string[];
}

export interface UiaSession {
  readonly id: string;
  readonly createdTs: number;
  /** What the session was started for, e.g. `POST /account/password`; a session serves one operation. */
  readonly operation: string;
  /** The authenticated requester that started it (null for registration). */
  readonly userId: string | null;
  /** Optional fingerprint of the request parameters the auth is for (e.g. the devices to delete). */
  readonly fingerprint: string | undefined;
  readonly completed: string[];
  /** Values remembered across the requests of one session (e.g. the registration password). */
  readonly data: Record<string, unknown>;
}

/** Checks one submitted stage; returns normally on success, throws a MatrixError on failure. */
export type StageChecker = (auth: JsonObject, session: UiaSession) => Promise<void>;

export interface UiaRequest {
  operation: string;
  userId: string | null;
  flows: UiaFlow[];
  params?: JsonObject;
  /** The request body's `auth` member (anything; validated here). */
  auth: unknown;
  fingerprint?: string;
  /** Stage checkers by stage type; m.login.dummy needs none. */
  checkers: Record<string, StageChecker>;
}

export type UiaOutcome =
  | { done: true; session: UiaSession }
  /** Answer with HTTP 401 and `body` as is: no errcode unless a stage failed (clients show it as an error). */
  | { done: false; body: JsonObject };

export interface UiaManagerOptions {
  clock: () => number;
  /** How long a session lives after it was created (default 1 hour). */
  sessionLifetimeMs?: number;
  /** At most this many live sessions; the oldest are dropped first (default 10,000). */
  maxSessions?: number;
}

export interface UiaManager {
  check(req: UiaRequest): Promise<UiaOutcome>;
  /** The live session with this id, if any (for tests and for data stored across requests). */
  get(id: string): UiaSession | undefined;
  /** Forgets a session (e.g. once the operation has done something that must not be repeated). */
  remove(id: string): void;
  readonly size: number;
}

export function createUiaManager(opts: UiaManagerOptions): UiaManager {
  const lifetime = opts.sessionLifetimeMs ?? 60 * 60 * 1000;
  const maxSessions = opts.maxSessions ?? 10_000;
  // Map iteration order is insertion order, which is creation order here: the oldest come first.
  const sessions = new Map<string, UiaSession>();

  function expire(now: number): void {
    for (const [id, s] of sessions) {
      if (s.createdTs + lifetime > now && sessions.size <= maxSessions) break;
      sessions.delete(id);
    }
  }

  function create(req: UiaRequest, now: number): UiaSession {
    const s: UiaSession = {
      id: generateOpaqueId(),
      createdTs: now,
      operation: req.operation,
      userId: req.userId,
      fingerprint: req.fingerprint,
      completed: [],
      data: {},
    };
    sessions.set(s.id, s);
    expire(now);
    return s;
  }

  /** A flow is complete when every one of its stages is in `completed` (spec: stages in order). */
  function flowComplete(flows: UiaFlow[], completed: string[]): boolean {
    return flows.some((f) => f.stages.length <= completed.length && f.stages.every((st, i) => completed[i] === st));
  }

  /** Stage types the client may attempt next: the next stage of every flow its progress still matches. */
  function nextStages(flows: UiaFlow[], completed: string[]): Set<string> {
    const out = new Set<string>();
    for (const f of flows) {
      if (completed.every((st, i) => f.stages[i] === st) && f.stages.length > completed.length) {
        out.add(f.stages[completed.length]!);
      }
    }
    return out;
  }

  function challenge(req: UiaRequest, s: UiaSession, error?: MatrixError): JsonObject {
    const body: JsonObject = {
      flows: req.flows.map((f) => ({ stages: [...f.stages] })),
      params: req.params ?? {},
      session: s.id,
    };
    if (s.completed.length > 0) body.completed = [...s.completed];
    if (error) {
      body.errcode = error.errcode;
      body.error = error.message;
    }
    return body;
  }

  function getLive(id: string, now: number): UiaSession | undefined {
    const s = sessions.get(id);
    if (s && s.createdTs + lifetime <= now) {
      sessions.delete(id);
      return undefined;
    }
    return s;
  }

  return {
    get size() {
      return sessions.size;
    },
    get(id) {
      return getLive(id, opts.clock());
    },
    remove(id) {
      sessions.delete(id);
    },
    async check(req) {
      const now = opts.clock();
      let auth: JsonObject | undefined;
      if (req.auth === undefined || req.auth === null) auth = undefined;
      else if (isJsonObject(req.auth)) auth = req.auth;
      else throw new MatrixError('M_BAD_JSON', '"auth" must be an object');
      const sessionId = auth?.session;
      if (sessionId !== undefined && typeof sessionId !== 'string') {
        throw new MatrixError('M_BAD_JSON', '"auth.session" must be a string');
      }

      let session: UiaSession;
      if (sessionId !== undefined) {
        const found = getLive(sessionId, now);
        if (!found) throw new MatrixError('M_UNKNOWN', 'Unknown or expired UIA session', 400);
        // A session authorises the request it was started for, by the user who started it.
        if (found.operation !== req.operation || found.userId !== req.userId || found.fingerprint !== req.fingerprint) {
          throw new MatrixError('M_FORBIDDEN', 'Requested operation has changed during the UI authentication session', 403);
        }
        session = found;
      } else {
        // No session yet. A first request with no auth gets the challenge; a first request that
        // already carries a stage (matrix-nio sends m.login.dummy at once) is treated as a stage
        // of a session started now.
        session = create(req, now);
        if (!auth) return { done: false, body: challenge(req, session) };
      }

      if (auth && flowComplete(req.flows, session.completed)) return { done: true, session };

      const type = auth?.type;
      if (auth && type !== undefined) {
        if (typeof type !== 'string') throw new MatrixError('M_BAD_JSON', '"auth.type" must be a string');
        if (!nextStages(req.flows, session.completed).has(type)) {
          const err = new MatrixError('M_UNRECOGNIZED', `Stage ${type} is not expected here`, 401);
          return { done: false, body: challenge(req, session, err) };
        }
        const checker = req.checkers[type];
        if (!checker && type !== STAGE_DUMMY) {
          const err = new MatrixError('M_UNRECOGNIZED', `Unsupported authentication type ${type}`, 401);
          return { done: false, body: challenge(req, session, err) };
        }
        try {
          if (checker) await checker(auth, session);
        } catch (e) {
          if (e instanceof MatrixError && (e.status === 401 || e.status === 403)) {
            return { done: false, body: challenge(req, session, e) };
          }
          throw e;
        }
        session.completed.push(type);
      }
      if (flowComplete(req.flows, session.completed)) return { done: true, session };
      return { done: false, body: challenge(req, session) };
    },
  };
}
