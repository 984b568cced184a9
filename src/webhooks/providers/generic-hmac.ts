/**
 * Flux's `generic-hmac` type: `X-Signature: <algo>=<hex>` with `algo` exactly `sha1`, `sha256` or `sha512`
 * (lowercase), the HMAC of the raw body keyed with the receiver's token; hex in either case. Flux answers 400 to a
 * missing or unknown signature; Fluxgate says 401 (missing) or 403 (wrong), like every provider. Classified as
 * `generic`: the delivery names no source. Sender side (Flux docs):
 * `printf '%s' "$body" | openssl dgst -sha256 -r -hmac "$token" | awk '{print $1}'` → `X-Signature: sha256=<that>`.
 */
import type { AuthResult, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { hmacMatches, prefixedSignature } from "../signature.ts";
import { genericDelivery } from "./generic.ts";

export const genericHmac: Provider = {
  name: "generic-hmac",
  fluxTypes: ["generic-hmac"],

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    const header = d.headers.get("x-signature");
    if (header === null || header === "") return { ok: false, status: 401, reason: "no X-Signature header: sign the body as X-Signature: sha256=<hex HMAC keyed with the receiver's token>" };
    const sig = prefixedSignature(header, ["sha1", "sha256", "sha512"]);
    if (sig === undefined) return { ok: false, status: 403, reason: "X-Signature is not of the form sha1|sha256|sha512=<hex>" };
    // An empty key would let anyone sign; a receiver without a token accepts nothing.
    if (secret.token === undefined || secret.token === "") return { ok: false, status: 403, reason: "the receiver's secret has no token to check the signature with" };
    if (!hmacMatches(sig.algorithm, secret.token, d.body, sig.hex)) return { ok: false, status: 403, reason: `${sig.algorithm} signature does not match the body and the receiver's token` };
    return { ok: true };
  },

  classify: genericDelivery,
};
