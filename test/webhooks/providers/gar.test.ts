import { after, before, describe, it } from "node:test";
import { createServer } from "node:http";
import type { Server } from "node:http";
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";
import { isRequestError } from "../../../src/errors.ts";
import { gar } from "../../../src/webhooks/providers/gar.ts";
import { delivery } from "../../support/webhook-fixtures.ts";
import type { ReceiverSecret } from "../../../src/webhooks/provider.ts";

const AUDIENCE = "https://fluxgate.example.com/hook/abc";
const EMAIL = "pubsub-push@my-project.iam.gserviceaccount.com";
const NOW = new Date("2026-05-01T12:00:00Z");
const NOW_S = Math.floor(NOW.getTime() / 1000);

// Pub/Sub push envelope (cloud.google.com/pubsub/docs/push) carrying an Artifact Registry notification
// (cloud.google.com/artifact-registry/docs/configure-notifications): full references in `digest` and `tag`.
const DIGEST = "sha256:6ec128e26cd5d7ca77ee22d61fbc1a8f3f2a9a0ee2a1f9e6e9c8b7f4c3a1d2e0";
const IMAGE = "us-east1-docker.pkg.dev/my-project/my-repo/hello-world";
const push = (data: unknown, raw?: string) =>
  JSON.stringify({
    message: { attributes: {}, data: raw ?? Buffer.from(JSON.stringify(data)).toString("base64"), messageId: "2070443601311540", message_id: "2070443601311540", publishTime: "2026-05-01T11:59:59.749Z", publish_time: "2026-05-01T11:59:59.749Z" },
    subscription: "projects/my-project/subscriptions/fluxgate",
  });

let secret: ReceiverSecret;
let sign: (claims: JWTPayload, options?: { kid?: string; key?: CryptoKey }) => Promise<string>;
let otherKey: CryptoKey;

before(async () => {
  const pair = await generateKeyPair("RS256");
  const other = await generateKeyPair("RS256");
  otherKey = other.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "google-1", alg: "RS256", use: "sig" };
  secret = { token: "s3cr3t", jwks: JSON.stringify({ keys: [jwk] }), audience: AUDIENCE, email: EMAIL };
  sign = (claims, options = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: options.kid ?? "google-1", typ: "JWT" })
      .sign(options.key ?? pair.privateKey);
});

/** Claims of a Google push token as Pub/Sub documents them. */
const claims = (extra: JWTPayload = {}): JWTPayload => ({
  iss: "https://accounts.google.com",
  aud: AUDIENCE,
  azp: "1234567890",
  sub: "1234567890",
  email: EMAIL,
  email_verified: true,
  iat: NOW_S - 60,
  exp: NOW_S + 3540,
  ...extra,
});
const withToken = (token: string) => ({ "content-type": "application/json", authorization: `Bearer ${token}`, "user-agent": "APIs-Google" });
const authenticate = async (token: string, at = NOW, s: ReceiverSecret = secret) => gar.authenticate(delivery(withToken(token), push({ action: "INSERT" })), s, at);
const refused = (reason: string) => ({ ok: false, status: 403, reason });

describe("Google Artifact Registry provider (Pub/Sub push)", () => {
  it("accepts a Google-signed token for the configured audience and service account, either issuer form", async () => {
    assert.deepEqual(await authenticate(await sign(claims())), { ok: true });
    assert.deepEqual(await authenticate(await sign(claims({ iss: "accounts.google.com" }))), { ok: true });
    assert.deepEqual(gar.secretKeys, ["audience", "email"]);
    assert.deepEqual(gar.fluxTypes, ["gcr"]);
  });

  it("rejects a missing Authorization header with 401 and a non-Bearer one with 403", async () => {
    const body = push({ action: "INSERT" });
    assert.deepEqual(await gar.authenticate(delivery({ "content-type": "application/json" }, body), secret, NOW), {
      ok: false,
      status: 401,
      reason: "no Authorization header: enable authentication on the Pub/Sub push subscription",
    });
    assert.deepEqual(await gar.authenticate(delivery({ authorization: "Basic dTpw" }, body), secret, NOW), refused("the Authorization header is not a Bearer token"));
  });

  it("rejects a token signed by another key, or altered", async () => {
    assert.deepEqual(await authenticate(await sign(claims(), { key: otherKey })), refused("Google ID token rejected: signature verification failed"));
    assert.deepEqual(await authenticate(await sign(claims(), { kid: "unknown", key: otherKey })), refused("Google ID token rejected: no applicable key found in the JSON Web Key Set"));
    const token = await sign(claims());
    const [head, body, sig] = token.split(".");
    const altered = `${head}.${body}.${(sig ?? "").slice(0, -2)}${(sig ?? "").endsWith("AA") ? "AB" : "AA"}`;
    assert.deepEqual(await authenticate(altered), refused("Google ID token rejected: signature verification failed"));
  });

  it("checks issuer, audience, expiry against the given clock with a minute of skew, email and email_verified", async () => {
    assert.deepEqual(await authenticate(await sign(claims({ iss: "https://evil.example.com" }))), refused('Google ID token rejected: unexpected "iss" claim value'));
    assert.deepEqual(await authenticate(await sign(claims({ aud: "https://other.example.com" }))), refused('Google ID token rejected: unexpected "aud" claim value'));
    const token = await sign(claims());
    assert.deepEqual(await authenticate(token, new Date((NOW_S + 3540 + 59) * 1000)), { ok: true });
    assert.deepEqual(await authenticate(token, new Date((NOW_S + 3540 + 61) * 1000)), refused('Google ID token rejected: "exp" claim timestamp check failed'));
    assert.deepEqual(await authenticate(await sign(claims({ email: "someone@else.iam.gserviceaccount.com" }))), refused('token email "someone@else.iam.gserviceaccount.com" is not the receiver\'s service account'));
    assert.deepEqual(await authenticate(await sign(claims({ email_verified: false }))), refused("token email is not verified (email_verified is not true)"));
    const { exp: _, ...noExp } = claims();
    assert.deepEqual(await authenticate(await sign(noExp)), refused('Google ID token rejected: missing required "exp" claim'));
  });

  it("refuses everything when the secret lacks audience or email, or holds a jwks that is no key set", async () => {
    const token = await sign(claims());
    const { email: _, ...noEmail } = secret;
    assert.deepEqual(await authenticate(token, NOW, noEmail), refused("the receiver's secret has no email key (gcr receivers need audience and email)"));
    assert.deepEqual(await authenticate(token, NOW, { token: "s3cr3t", audience: AUDIENCE, email: EMAIL, jwksUrl: "file:///etc/passwd" }), refused('the receiver\'s secret key jwksUrl is not an http(s) URL: "file:///etc/passwd"'));
    assert.deepEqual(await authenticate(token, NOW, { ...secret, jwks: "{" }), refused("the receiver's secret key jwks is not JSON"));
    assert.deepEqual(await authenticate(token, NOW, { ...secret, jwks: '{"keys":[]}' }), refused('the receiver\'s secret key jwks is not a JSON Web Key Set ({"keys": [...]})'));
  });

  it("normalises an INSERT of a tagged image to the image, tag and digest, with messageId as delivery id", () => {
    const body = push({ action: "INSERT", digest: `${IMAGE}@${DIGEST}`, tag: `${IMAGE}:1.1` });
    assert.deepEqual(gar.classify(delivery(withToken("t"), body)), {
      type: "changes",
      eventType: "INSERT",
      deliveryId: "2070443601311540",
      changes: [{ kind: "oci", image: { repository: IMAGE, key: IMAGE, tag: "1.1", digest: DIGEST }, deleted: false }],
    });
  });

  it("normalises an untagged INSERT to the digest and a DELETE of a tag to a deletion", () => {
    assert.deepEqual(gar.classify(delivery(withToken("t"), push({ action: "INSERT", digest: `${IMAGE}@${DIGEST}` }))), {
      type: "changes",
      eventType: "INSERT",
      deliveryId: "2070443601311540",
      changes: [{ kind: "oci", image: { repository: IMAGE, key: IMAGE, digest: DIGEST }, deleted: false }],
    });
    assert.deepEqual(gar.classify(delivery(withToken("t"), push({ action: "DELETE", tag: `${IMAGE}:1.1` }))), {
      type: "changes",
      eventType: "DELETE",
      deliveryId: "2070443601311540",
      changes: [{ kind: "oci", image: { repository: IMAGE, key: IMAGE, tag: "1.1" }, deleted: true }],
    });
  });

  it("ignores actions other than INSERT and DELETE", () => {
    assert.deepEqual(gar.classify(delivery(withToken("t"), push({ action: "UPDATE", tag: `${IMAGE}:1.1` }))), {
      type: "ignored",
      eventType: "UPDATE",
      deliveryId: "2070443601311540",
      reason: "Artifact Registry action UPDATE does not change an image",
    });
  });

  it("answers 400 naming the field for a malformed envelope or notification", () => {
    assert.throws(() => gar.classify(delivery(withToken("t"), JSON.stringify({ message: {} }))), { name: "RequestError", status: 400, message: "Pub/Sub push payload: message.data: Invalid input: expected string, received undefined" });
    assert.throws(() => gar.classify(delivery(withToken("t"), push(null, "!!"))), { status: 400, message: "Pub/Sub push payload: message.data: is not base64" });
    assert.throws(() => gar.classify(delivery(withToken("t"), push(null, Buffer.from("not json").toString("base64")))), { status: 400, reason: "MalformedPayload" });
    assert.throws(() => gar.classify(delivery(withToken("t"), push({ digest: "x" }))), { status: 400, message: "Artifact Registry notification (message.data) payload: action: Invalid input: expected string, received undefined" });
    assert.throws(() => gar.classify(delivery(withToken("t"), push({ action: "INSERT" }))), { status: 400, message: "Artifact Registry notification (message.data): neither digest nor tag" });
  });
});

describe("Google Artifact Registry keys fetched from Google (no jwks in the secret)", () => {
  let server: Server;
  let served: { keys: JWK[] } | undefined;
  let fetches = 0;
  let url = "";
  const rotated: { sign?: (c: JWTPayload) => Promise<string>; jwk?: JWK } = {};

  before(async () => {
    const pair = await generateKeyPair("RS256");
    rotated.jwk = { ...(await exportJWK(pair.publicKey)), kid: "google-2", alg: "RS256", use: "sig" };
    rotated.sign = (c) => new SignJWT(c).setProtectedHeader({ alg: "RS256", kid: "google-2", typ: "JWT" }).sign(pair.privateKey);
    served = JSON.parse(secret.jwks ?? "{}") as { keys: JWK[] };
    server = createServer((_, res) => {
      fetches++;
      if (served === undefined) {
        res.writeHead(500).end("down");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(served));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}/oauth2/v3/certs`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const remote = (): ReceiverSecret => ({ token: "s3cr3t", audience: AUDIENCE, email: EMAIL, jwksUrl: url });

  it("verifies against the fetched keys, caches them, and fetches again for a key it has not seen (rotation)", async () => {
    assert.deepEqual(await authenticate(await sign(claims()), NOW, remote()), { ok: true });
    assert.deepEqual(await authenticate(await sign(claims()), NOW, remote()), { ok: true });
    assert.equal(fetches, 1, "cached");
    served = { keys: [...(served?.keys ?? []), rotated.jwk as JWK] };
    await new Promise((r) => setTimeout(r, 5_100)); // the set is fetched again at most every 5 s
    assert.deepEqual(await authenticate(await (rotated.sign as (c: JWTPayload) => Promise<string>)(claims()), NOW, remote()), { ok: true });
    assert.equal(fetches, 2, "a token naming a new key fetches the set again");
    assert.deepEqual(await authenticate(await sign(claims({ aud: "other" })), NOW, remote()), refused('Google ID token rejected: unexpected "aud" claim value'));
  });

  it("answers 503 (so Pub/Sub retries) when the keys cannot be fetched, not 403", async () => {
    served = undefined;
    const s = { ...remote(), jwksUrl: `${url}?fresh` }; // another URL: nothing cached
    await assert.rejects(
      async () => authenticate(await sign(claims()), NOW, s),
      (e: unknown) => isRequestError(e) && e.status === 503 && /keys could not be read/.test(e.message),
    );
  });
});
