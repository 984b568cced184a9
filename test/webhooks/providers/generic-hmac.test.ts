import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { genericHmac } from "../../../src/webhooks/providers/generic-hmac.ts";
import { delivery, flipByte, hmacHex } from "../../support/webhook-fixtures.ts";

const TOKEN = "s3cr3t";
// The body a Flux user would send with the documented `openssl dgst -sha256 -hmac` recipe (spec §6); any bytes work.
const BODY = new TextEncoder().encode('{"image":"ghcr.io/org/app:1.2.3"}');
const signed = (algorithm: "sha1" | "sha256" | "sha512", body = BODY) => ({ "content-type": "application/json", "x-signature": `${algorithm}=${hmacHex(algorithm, TOKEN, body)}` });

describe("generic-hmac provider (Flux generic-hmac)", () => {
  it("accepts X-Signature HMACs of the raw body with sha1, sha256 or sha512, hex in either case", () => {
    for (const algorithm of ["sha1", "sha256", "sha512"] as const) {
      assert.deepEqual(genericHmac.authenticate(delivery(signed(algorithm), BODY), { token: TOKEN }, new Date()), { ok: true });
    }
    const upper = `sha256=${hmacHex("sha256", TOKEN, BODY).toUpperCase()}`;
    assert.deepEqual(genericHmac.authenticate(delivery({ "x-signature": upper }, BODY), { token: TOKEN }, new Date()), { ok: true });
    assert.deepEqual(genericHmac.fluxTypes, ["generic-hmac"]);
  });

  it("rejects a flipped byte or a wrong token with 403", () => {
    const mismatch = { ok: false, status: 403, reason: "sha256 signature does not match the body and the receiver's token" };
    assert.deepEqual(genericHmac.authenticate(delivery(signed("sha256"), flipByte(BODY)), { token: TOKEN }, new Date()), mismatch);
    assert.deepEqual(genericHmac.authenticate(delivery(signed("sha256"), BODY), { token: "other" }, new Date()), mismatch);
    assert.deepEqual(genericHmac.authenticate(delivery(signed("sha256"), BODY), { token: "" }, new Date()), { ok: false, status: 403, reason: "the receiver's secret has no token to check the signature with" });
  });

  it("rejects a missing signature with 401 and an unknown or non-lowercase prefix with 403", () => {
    assert.deepEqual(genericHmac.authenticate(delivery({ "content-type": "application/json" }, BODY), { token: TOKEN }, new Date()), {
      ok: false,
      status: 401,
      reason: "no X-Signature header: sign the body as X-Signature: sha256=<hex HMAC keyed with the receiver's token>",
    });
    const badPrefix = { ok: false, status: 403, reason: "X-Signature is not of the form sha1|sha256|sha512=<hex>" };
    const hex = hmacHex("sha256", TOKEN, BODY);
    for (const value of [`SHA256=${hex}`, `md5=${hex}`, hex]) {
      assert.deepEqual(genericHmac.authenticate(delivery({ "x-signature": value }, BODY), { token: TOKEN }, new Date()), badPrefix);
    }
  });

  it("classifies an authentic delivery as one generic change", () => {
    assert.deepEqual(genericHmac.classify(delivery(signed("sha256"), BODY)), { type: "changes", eventType: "generic", changes: [{ kind: "generic", deleted: false }] });
  });
});
