/**
 * Google Artifact Registry (and Container Registry) notifications through a Pub/Sub push subscription: the body is
 * the push envelope, `message.data` the base64 of `{action: INSERT|DELETE, digest?, tag?}` with full references,
 * `message.messageId` the delivery id (Pub/Sub is at-least-once).
 *
 * Authentication: `Authorization: Bearer <Google-signed OIDC ID token>` (push authentication on the subscription),
 * verified against Google's published keys, as notification-controller does: fetched from `jwksUrl` (default
 * https://www.googleapis.com/oauth2/v3/certs), cached, and fetched again when a token names a key not seen yet
 * (Google rotates them) — or, without network access, against a `jwks` key in the receiver's secret (a copy of that
 * document, kept current by whoever writes the secret). `audience` (the subscription's audience) and `email` (its
 * service account) are required, as Flux 1.9 made them mandatory (CVE-2026-40109), so a Flux `gcr` Receiver's Secret
 * works as it is. Checked: RS256 signature, `iss` Google, `aud`, `exp`/`nbf`/`iat` against the receiver's clock with a
 * minute of skew, `email` and `email_verified`. When the keys cannot be fetched the answer is 503, so Pub/Sub retries.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import { RequestError } from "../../errors.ts";
import { memo } from "../../memo.ts";
import { imageDraft, splitImageReference } from "../image-change.ts";
import { jsonBody, payload } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";

/** Issuers Google writes into ID tokens (both forms are in use). */
const GOOGLE_ISSUERS = ["https://accounts.google.com", "accounts.google.com"];
/** Clock skew tolerated on `exp`/`nbf`/`iat`, in seconds. */
const CLOCK_SKEW_S = 60;
/** Where Google publishes the keys its ID tokens are signed with. */
export const GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs";

/**
 * Google's keys at `url`, cached for an hour (Google announces a new key well before it signs with it), fetched again
 * at once for a token naming an unknown key but not more than every 5 s (tokens with made-up key ids cannot make us
 * hammer Google), each fetch given 5 s.
 */
const remoteKeys = memo(
  (url: string): JWTVerifyGetKey => createRemoteJWKSet(new URL(url), { cacheMaxAge: 60 * 60_000, cooldownDuration: 5_000, timeoutDuration: 5_000 }),
  100,
);

const pushEnvelope = z.object({
  message: z.object({
    data: z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, "is not base64"),
    messageId: z.string().min(1).optional(),
    message_id: z.string().min(1).optional(),
  }),
});
const notification = z.object({
  action: z.string().min(1),
  digest: z.string().min(1).optional(),
  tag: z.string().min(1).optional(),
});
const jwksShape = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) });

function refuse(reason: string): AuthResult {
  return { ok: false, status: 403, reason };
}

/**
 * A secret's `jwks` copy as a key set, or why it is not one. Kept per text: the key set caches the keys it imported,
 * so a delivery does not parse the JSON and import the RSA keys again.
 */
const localKeys = memo((jwks: string): JWTVerifyGetKey | string => {
  try {
    const parsed = jwksShape.safeParse(JSON.parse(jwks));
    if (!parsed.success) return "the receiver's secret key jwks is not a JSON Web Key Set ({\"keys\": [...]})";
    const keySet: JSONWebKeySet = { keys: parsed.data.keys.map((k) => ({ ...k })) };
    return createLocalJWKSet(keySet);
  } catch {
    return "the receiver's secret key jwks is not JSON";
  }
}, 100);

/** The keys to verify with: the secret's `jwks` copy, else Google's (or `jwksUrl`'s) fetched; or why not. */
function keysFor(secret: ReceiverSecret): JWTVerifyGetKey | string {
  const { jwks, jwksUrl } = secret;
  if (jwks !== undefined && jwks !== "") return localKeys(jwks);
  const url = jwksUrl === undefined || jwksUrl === "" ? GOOGLE_JWKS_URL : jwksUrl;
  if (!/^https?:\/\/[^\s]+$/.test(url)) return `the receiver's secret key jwksUrl is not an http(s) URL: ${JSON.stringify(url)}`;
  return remoteKeys(url);
}

async function verify(token: string, secret: ReceiverSecret, now: Date): Promise<AuthResult> {
  const { audience, email } = secret;
  for (const [key, value] of Object.entries({ audience, email })) {
    if (value === undefined || value === "") return refuse(`the receiver's secret has no ${key} key (gcr receivers need audience and email)`);
  }
  const keys = keysFor(secret);
  if (typeof keys === "string") return refuse(keys);
  try {
    const { payload: claims } = await jwtVerify(token, keys, {
      issuer: GOOGLE_ISSUERS,
      audience: audience ?? "",
      algorithms: ["RS256"],
      currentDate: now,
      clockTolerance: CLOCK_SKEW_S,
      requiredClaims: ["exp", "iat"],
    });
    if (claims.email !== email) return refuse(`token email ${JSON.stringify(claims.email ?? null)} is not the receiver's service account`);
    if (claims.email_verified !== true) return refuse("token email is not verified (email_verified is not true)");
    return { ok: true };
  } catch (e) {
    if (tokenFault(e)) return refuse(`Google ID token rejected: ${e.message}`);
    // Fetching the keys failed (network, timeout, not a key set): not the sender's fault, so 503 and Pub/Sub delivers
    // again, rather than 403, which it would not retry.
    if (secret.jwks === undefined || secret.jwks === "") {
      throw new RequestError(503, "KeysUnavailable", `Google's token signing keys could not be read (${(e as Error).message}); retry later`, { headers: { "retry-after": "30" }, cause: e });
    }
    if (e instanceof joseErrors.JOSEError) return refuse(`Google ID token rejected: ${e.message}`);
    throw e;
  }
}

/** Errors that say the token is wrong (bad signature, claims, unknown key), as opposed to the keys being unreadable. */
function tokenFault(e: unknown): e is Error {
  return (
    e instanceof joseErrors.JWTClaimValidationFailed ||
    e instanceof joseErrors.JWTExpired ||
    e instanceof joseErrors.JWTInvalid ||
    e instanceof joseErrors.JWSInvalid ||
    e instanceof joseErrors.JWSSignatureVerificationFailed ||
    e instanceof joseErrors.JWKSNoMatchingKey ||
    e instanceof joseErrors.JWKSMultipleMatchingKeys ||
    e instanceof joseErrors.JOSEAlgNotAllowed ||
    e instanceof joseErrors.JOSENotSupported
  );
}

export const gar: Provider = {
  name: "gar",
  fluxTypes: ["gcr"],
  secretKeys: ["audience", "email"],

  authenticate(d: Delivery, secret: ReceiverSecret, now: Date): Promise<AuthResult> | AuthResult {
    const header = d.headers.get("authorization");
    if (header === null || header === "") return { ok: false, status: 401, reason: "no Authorization header: enable authentication on the Pub/Sub push subscription" };
    const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (token === undefined) return refuse("the Authorization header is not a Bearer token");
    return verify(token, secret, now);
  },

  classify(d: Delivery): Classified {
    const envelope = payload(pushEnvelope, jsonBody(d.body), "Pub/Sub push");
    const id = envelope.message.messageId ?? envelope.message.message_id;
    const ids = id === undefined ? {} : { deliveryId: id };
    let decoded: unknown;
    try {
      decoded = jsonBody(new Uint8Array(Buffer.from(envelope.message.data, "base64")));
    } catch (e) {
      throw new RequestError(400, "MalformedPayload", `Pub/Sub push payload: message.data is not base64 of a JSON notification (${(e as Error).message})`);
    }
    const n = payload(notification, decoded, "Artifact Registry notification (message.data)");
    const eventType = n.action;
    if (n.action !== "INSERT" && n.action !== "DELETE") return { type: "ignored", eventType, ...ids, reason: `Artifact Registry action ${n.action} does not change an image` };
    if (n.tag === undefined && n.digest === undefined) throw new RequestError(400, "MalformedPayload", "Artifact Registry notification (message.data): neither digest nor tag");
    // DELETE of a tag carries only the tag; an untagged push only the digest; a tagged push both.
    const digest = n.digest === undefined ? undefined : splitImageReference(n.digest)?.digest;
    const [ref, field] = n.tag === undefined ? [n.digest ?? "", "message.data.digest"] : [n.tag, "message.data.tag"];
    const change = imageDraft(ref, field, { digest, deleted: n.action === "DELETE" });
    return { type: "changes", eventType, ...ids, changes: [change] };
  },
};
