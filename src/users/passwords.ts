// Password hashing with argon2id (the argon2 package runs it on libuv's thread pool, off the event loop).
import type Argon2 from 'argon2';

let argon2Loading: Promise<typeof Argon2> | undefined;
/** The argon2 binding, loaded at the first hash or verify rather than at start (a native module). */
function loadArgon2(): Promise<typeof Argon2> {
  return (argon2Loading ??= import('argon2').then((m) => m.default));
}

export interface PasswordHashParams {
  /** Memory in KiB. */
  memoryCost: number;
  /** Passes over memory. */
  timeCost: number;
  parallelism: number;
}

/**
 * 64 MiB, 2 passes, 1 lane: about 70 ms per hash on the 2-core build machine (measured: 19 MiB/t=2
 * ~18 ms, 64 MiB/t=2 ~69 ms, 64 MiB/t=3 ~99 ms). Above OWASP's argon2id minimum (19 MiB, t=2).
 * The parameters are stored in each PHC string, so changing them later keeps old hashes verifiable.
 */
export const DEFAULT_PASSWORD_HASH_PARAMS: PasswordHashParams = { memoryCost: 65536, timeCost: 2, parallelism: 1 };

/** The longest password accepted (Synapse's limit); longer ones are refused before hashing. */
export const MAX_PASSWORD_LENGTH = 512;

export async function hashPassword(password: string, params: PasswordHashParams = DEFAULT_PASSWORD_HASH_PARAMS): Promise<string> {
  const argon2 = await loadArgon2();
  return argon2.hash(password, { type: argon2.argon2id, ...params });
}

/** True when `password` matches the PHC `hash`; false for a malformed hash rather than throwing. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const argon2 = await loadArgon2(); // outside the try: a missing binding is an error, not a mismatch
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/**
 * A fixed argon2id hash of a random password, verified against when the user does not exist, so a
 * login for an unknown user costs the same time as one for a known user (no user enumeration by timing).
 */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(params: PasswordHashParams = DEFAULT_PASSWORD_HASH_PARAMS): Promise<string> {
  dummyHash ??= hashPassword(`unused-${Math.random()}`, params);
  return dummyHash;
}
