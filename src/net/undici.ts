// undici, loaded on the first outbound request instead of at start: it is ~4.7 MB of V8 heap (plus
// the node builtins it pulls in) that a server without federation, push or previews never uses.
import type * as Undici from 'undici';

export type UndiciModule = typeof Undici;

let loading: Promise<UndiciModule> | undefined;

/** The undici module, imported once on the first call. */
export function loadUndici(): Promise<UndiciModule> {
  return (loading ??= import('undici'));
}

/** An undici Agent built on first use; closing one that was never used loads nothing. */
export interface LazyAgent {
  get(): Promise<Undici.Agent>;
  close(): Promise<void>;
}

export function lazyAgent(options: Undici.Agent.Options): LazyAgent {
  let agent: Promise<Undici.Agent> | undefined;
  let closed = false;
  return {
    get() {
      // As a closed undici Agent does: refuse new requests once closed.
      if (closed && !agent) return Promise.reject(Object.assign(new Error('The client is closed'), { code: 'UND_ERR_CLOSED' }));
      return (agent ??= loadUndici().then((u) => new u.Agent(options)));
    },
    async close() {
      closed = true;
      if (agent) await (await agent).close();
    },
  };
}
