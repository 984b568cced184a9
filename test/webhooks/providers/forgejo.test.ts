import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { forgejo } from "../../../src/webhooks/providers/forgejo.ts";
import { gitea } from "../../../src/webhooks/providers/gitea.ts";
import { github } from "../../../src/webhooks/providers/github.ts";
import { delivery, fixture, flipByte, hmacHex } from "../../support/webhook-fixtures.ts";

// Forgejo sends Gitea's payloads with every Gitea/Gogs/GitHub header plus its own X-Forgejo-* (spec §3.5, Forgejo
// services/webhook/shared/payloader.go); there is no Forgejo fixture, so these tests reuse Gitea's push body.
const TOKEN = "s3cr3t";
const ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d";
const headers = (event: string, signed: Uint8Array, extra: Record<string, string> = {}) => {
  const sig = hmacHex("sha256", TOKEN, signed);
  return {
    "content-type": "application/json",
    "x-forgejo-delivery": ID,
    "x-forgejo-event": event,
    "x-forgejo-event-type": event,
    "x-forgejo-signature": sig,
    "x-gitea-delivery": ID,
    "x-gitea-event": event,
    "x-gitea-event-type": event,
    "x-gitea-signature": sig,
    "x-gogs-delivery": ID,
    "x-gogs-event": event,
    "x-gogs-signature": sig,
    "x-hub-signature-256": `sha256=${sig}`,
    "x-github-delivery": ID,
    "x-github-event": event,
    ...extra,
  };
};
const json = () => JSON.parse(new TextDecoder().decode(fixture("gitea/push-event.json"))) as Record<string, unknown>;
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const REPO = { urls: ["http://localhost:3000/example/example.git", "git@localhost:example/example.git"], key: "localhost:3000/example/example" };
const COMMIT = "67b56589a45103f891bdee7c0546e5d40bc02001";
const now = new Date();

describe("Forgejo provider", () => {
  it("normalises a push with Forgejo's headers to the branch and its commit, keyed by X-Forgejo-Delivery", () => {
    const body = fixture("gitea/push-event.json");
    const d = delivery(headers("push", body), body);
    assert.deepEqual(forgejo.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(forgejo.classify(d), {
      type: "changes",
      eventType: "push",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/master", branch: "master", commit: COMMIT }, deleted: false }],
    });
  });

  it("is the one provider of Flux's github type that recognises a Forgejo delivery", () => {
    const body = fixture("gitea/push-event.json");
    const d = delivery(headers("push", body), body);
    assert.deepEqual(forgejo.fluxTypes, ["github"]);
    assert.deepEqual([forgejo, gitea, github].map((p) => p.recognises?.(d)), [true, false, false]);
  });

  it("accepts create refs in full (Forgejo-type hooks) as well as short", () => {
    const { repository, sender } = json();
    for (const ref of ["refs/tags/v2.0.0", "v2.0.0"]) {
      const body = bytes({ sha: COMMIT, ref, ref_type: "tag", repository, sender });
      assert.deepEqual(forgejo.classify(delivery(headers("create", body), body)), {
        type: "changes",
        eventType: "create",
        deliveryId: ID,
        changes: [{ kind: "git", git: { ...REPO, ref: "refs/tags/v2.0.0", tag: "v2.0.0", commit: COMMIT }, deleted: false }],
      });
    }
  });

  it("answers Test Delivery as a ping and ignores other events", () => {
    const zero = "0000000000000000000000000000000000000000";
    const test = bytes({ ...json(), before: zero, after: zero });
    assert.deepEqual(forgejo.classify(delivery(headers("push", test), test)), {
      type: "ping",
      eventType: "push",
      deliveryId: ID,
      reason: "Forgejo test delivery: the hook reaches Fluxgate",
    });
    const issue = bytes({ action: "opened" });
    assert.deepEqual(forgejo.classify(delivery(headers("issues", issue), issue)), {
      type: "ignored",
      eventType: "issues",
      deliveryId: ID,
      reason: "Forgejo event issues does not change a source",
    });
  });

  it("checks X-Forgejo-Signature: a flipped byte or wrong secret is 403, a missing one 401", () => {
    const body = fixture("gitea/push-event.json");
    const h = headers("push", body);
    const mismatch = { ok: false, status: 403, reason: "X-Forgejo-Signature does not match the payload and the receiver's token" };
    assert.deepEqual(forgejo.authenticate(delivery(h, flipByte(body)), { token: TOKEN }, now), mismatch);
    assert.deepEqual(forgejo.authenticate(delivery(h, body), { token: "other" }, now), mismatch);
    const { "x-forgejo-signature": _, ...unsigned } = h;
    assert.deepEqual(forgejo.authenticate(delivery(unsigned, body), { token: TOKEN }, now), {
      ok: false,
      status: 401,
      reason: "no X-Forgejo-Signature header: set the webhook's secret in Forgejo to the receiver's token",
    });
  });

  it("answers 400 naming the field for a malformed create", () => {
    const { repository } = json();
    const body = bytes({ ref: "v1", ref_type: "release", repository });
    assert.throws(() => forgejo.classify(delivery(headers("create", body), body)), {
      name: "RequestError",
      status: 400,
      reason: "MalformedPayload",
      message: 'Forgejo create payload: ref_type: Invalid option: expected one of "branch"|"tag"',
    });
  });
});
