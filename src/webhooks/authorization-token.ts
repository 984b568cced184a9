/**
 * The shared-token check for senders that can only add a static header (Harbor's "Auth Header", ACR custom headers,
 * CloudEvents producers): the `Authorization` header must carry the receiver's token, either verbatim (Flux's
 * `harbor` rule: `Authorization == token`, so a token that itself starts with `Bearer ` works too) or as
 * `Bearer <token>`. Compared in constant time.
 */
import type { AuthResult } from "./provider.ts";
import { secretEquals } from "./signature.ts";

/**
 * Whether `headers` carry `token` in `Authorization`. `setup` tells the sender's operator how to configure it, for
 * the 401 reason.
 * @example authorizationToken(d.headers, secret.token, "set the Harbor webhook's Auth Header to the receiver's token")
 */
export function authorizationToken(headers: Headers, token: string | undefined, setup: string): AuthResult {
  const header = headers.get("authorization");
  if (header === null || header === "") return { ok: false, status: 401, reason: `no Authorization header: ${setup}` };
  // An empty configured token would make an empty header authentic; a receiver without a token accepts nothing.
  if (token === undefined || token === "") return { ok: false, status: 403, reason: "the receiver's secret has no token to compare the Authorization header with" };
  const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
  // Both comparisons always run, so the time taken does not say which form was tried.
  const verbatim = secretEquals(header, token);
  const asBearer = secretEquals(bearer ?? "", token);
  if (verbatim || (bearer !== undefined && asBearer)) return { ok: true };
  return { ok: false, status: 403, reason: "the Authorization header does not carry the receiver's token" };
}
