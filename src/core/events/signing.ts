// Event signatures (server-server API "Signing Events"): sign and verify the redacted form of a
// PDU, and decide whose signatures a received event needs ("Validating hashes and signatures on
// received events").

import type { SigningKey } from '../crypto/ed25519.js';
import { signJson, verifyJsonSignature } from '../crypto/signing.js';
import { serverNameOf } from '../ids.js';
import { isJsonObject, type JsonObject } from '../json/types.js';
import { addContentHash, numbersOf } from './hashes.js';
import { redactEvent } from './redaction.js';
import type { RoomVersion } from './room-versions.js';

/**
 * Signs a PDU as `serverName`: the event is redacted under the room version's rules, the redacted
 * object is signed ("Signing JSON"), and the new signature is copied back into a copy of the full
 * event. Existing signatures are kept. The content hash must already be present (see
 * `addContentHash` or `hashAndSignEvent`): it is part of what the signature covers.
 */
export function signEvent<T extends JsonObject>(
  pdu: T,
  serverName: string,
  key: SigningKey,
  version: RoomVersion,
): T & { signatures: JsonObject } {
  const signedRedacted = signJson(redactEvent(pdu, version), serverName, key, numbersOf(version));
  const signature = (signedRedacted.signatures as Record<string, Record<string, string>>)[serverName]![key.keyId]!;
  const existing = isJsonObject(pdu.signatures) ? pdu.signatures : {};
  const prior = Object.hasOwn(existing, serverName) ? existing[serverName] : undefined;
  const mine = isJsonObject(prior) ? prior : {};
  return { ...pdu, signatures: { ...existing, [serverName]: { ...mine, [key.keyId]: signature } } };
}

/** The whole outgoing step: add the content hash, then sign ("Adding hashes and signatures"). */
export function hashAndSignEvent<T extends JsonObject>(
  pdu: T,
  serverName: string,
  key: SigningKey,
  version: RoomVersion,
): T & { hashes: JsonObject; signatures: JsonObject } {
  return signEvent(addContentHash(pdu, version), serverName, key, version);
}

/**
 * True when the PDU carries a valid signature by `serverName` with `keyId` over its redacted form.
 * Works the same on the full event and on a redacted copy. Key validity (valid_until_ts, v5+) is the
 * caller's business: it knows the key's metadata.
 */
export function verifyEventSignature(
  pdu: JsonObject,
  serverName: string,
  keyId: string,
  publicKey: string,
  version: RoomVersion,
): boolean {
  // Cheap pre-check so that an event without this signature is not redacted for nothing.
  const sigs = pdu.signatures;
  if (!isJsonObject(sigs) || !Object.hasOwn(sigs, serverName)) return false;
  const mine = sigs[serverName];
  if (!isJsonObject(mine) || !Object.hasOwn(mine, keyId)) return false;
  return verifyJsonSignature(redactEvent(pdu, version), serverName, keyId, publicKey, numbersOf(version));
}

/** m.room.member invite carrying a third_party_invite (the same test as Synapse's). */
function isThirdPartyInvite(pdu: JsonObject, content: JsonObject): boolean {
  return pdu.type === 'm.room.member' && content.membership === 'invite' && content.third_party_invite !== undefined;
}

/**
 * The servers whose signatures a received PDU must carry (server-server API "Validating hashes and
 * signatures on received events"):
 * - the sender's server, except for an invite made from a third-party invite: "the sender must
 *   already match the 3rd party invite, and the server which actually sends the event may be a
 *   different server" (its proof is the identity server's signature on
 *   `content.third_party_invite.signed`, checked by the auth rules, not here);
 * - rooms v1/v2: also the server of the `event_id`, if it differs;
 * - rooms with restricted joins (v8+): for a join with `join_authorised_via_users_server`, the
 *   server of that user (auth rule "If the event is not validly signed by the homeserver of the
 *   user ID denoted by the key, reject"; checking it here drops forgeries early).
 * The list has no duplicates. Servers whose IDs do not parse are left out; the format checks
 * (validatePdu) reject such events first.
 */
export function requiredSignatureServers(pdu: JsonObject, version: RoomVersion): string[] {
  const out = new Set<string>();
  const content = isJsonObject(pdu.content) ? pdu.content : {};
  const add = (id: unknown): void => {
    const server = typeof id === 'string' ? serverNameOf(id) : undefined;
    if (server !== undefined) out.add(server);
  };
  if (!isThirdPartyInvite(pdu, content)) add(pdu.sender);
  if (version.eventIdFormat === 'v1') add(pdu.event_id);
  if (
    version.restrictedJoins &&
    pdu.type === 'm.room.member' &&
    content.membership === 'join' &&
    content.join_authorised_via_users_server !== undefined
  ) {
    add(content.join_authorised_via_users_server);
  }
  return [...out];
}
