import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { gitea } from "../../../src/webhooks/providers/gitea.ts";
import { forgejo } from "../../../src/webhooks/providers/forgejo.ts";
import { gogs } from "../../../src/webhooks/providers/gogs.ts";
import { github } from "../../../src/webhooks/providers/github.ts";
import { delivery, fixture, flipByte, hmacHex } from "../../support/webhook-fixtures.ts";

const TOKEN = "s3cr3t";
const ID = "0e9a8b7c-6d5e-4f3a-2b1c-0d9e8f7a6b5c";
/** Every header Gitea's deliver.go sends (§2.1), signed over `signed` (the JSON payload). */
const headers = (event: string, signed: Uint8Array, extra: Record<string, string> = {}) => {
  const sig = hmacHex("sha256", TOKEN, signed);
  return {
    "content-type": "application/json",
    "x-gitea-delivery": ID,
    "x-gitea-event": event,
    "x-gitea-event-type": event,
    "x-gitea-signature": sig,
    "x-gogs-delivery": ID,
    "x-gogs-event": event,
    "x-gogs-event-type": event,
    "x-gogs-signature": sig,
    "x-hub-signature": `sha1=${hmacHex("sha1", TOKEN, signed)}`,
    "x-hub-signature-256": `sha256=${sig}`,
    "x-github-delivery": ID,
    "x-github-event": event,
    "x-github-event-type": event,
    ...extra,
  };
};
const json = () => JSON.parse(new TextDecoder().decode(fixture("gitea/push-event.json"))) as Record<string, unknown>;
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const REPO = { urls: ["http://localhost:3000/example/example.git", "git@localhost:example/example.git"], key: "localhost:3000/example/example" };
const COMMIT = "67b56589a45103f891bdee7c0546e5d40bc02001";
const now = new Date();

describe("Gitea provider", () => {
  it("normalises the push fixture to the branch and its commit", () => {
    const body = fixture("gitea/push-event.json");
    const d = delivery(headers("push", body), body);
    assert.deepEqual(gitea.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(gitea.classify(d), {
      type: "changes",
      eventType: "push",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/master", branch: "master", commit: COMMIT }, deleted: false }],
    });
  });

  it("takes Gitea deliveries for Flux's github type away from the GitHub provider, and leaves Forgejo's to Forgejo", () => {
    const body = fixture("gitea/push-event.json");
    const d = delivery(headers("push", body), body);
    assert.deepEqual(gitea.fluxTypes, ["github"]);
    assert.deepEqual([gitea, forgejo, gogs, github].map((p) => p.recognises?.(d)), [true, false, false, false]);
    const fromForgejo = delivery(headers("push", body, { "x-forgejo-event": "push" }), body);
    assert.deepEqual([gitea, forgejo, gogs, github].map((p) => p.recognises?.(fromForgejo)), [false, true, false, false]);
  });

  it("verifies a form-encoded delivery against the JSON in its payload field", () => {
    const jsonText = fixture("gitea/push-event.json");
    const form = new TextEncoder().encode(new URLSearchParams({ payload: new TextDecoder().decode(jsonText) }).toString());
    const d = delivery(headers("push", jsonText, { "content-type": "application/x-www-form-urlencoded" }), form);
    assert.deepEqual(gitea.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.equal(gitea.classify(d).type, "changes");
    const empty = delivery(headers("push", jsonText, { "content-type": "application/x-www-form-urlencoded" }), "other=1");
    assert.deepEqual(gitea.authenticate(empty, { token: TOKEN }, now), {
      ok: false,
      status: 403,
      reason: "no payload field in the form body or query: nothing to verify the signature against",
    });
    assert.throws(() => gitea.classify(empty), { status: 400, reason: "MalformedPayload", message: "no payload field in the form body or query" });
  });

  it("verifies a GET delivery against the JSON in its payload query parameter", () => {
    const jsonText = fixture("gitea/push-event.json");
    const d = { ...delivery(headers("push", jsonText), new Uint8Array(), `/hook/test?payload=${encodeURIComponent(new TextDecoder().decode(jsonText))}`), method: "GET" };
    assert.deepEqual(gitea.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.equal(gitea.classify(d).type, "changes");
  });

  it("answers Test Delivery (a push whose before and after are equal) as a ping", () => {
    // Recent Gitea sends the all-zero id for both; older versions the default branch's head commit for both.
    for (const sha of ["0000000000000000000000000000000000000000", COMMIT]) {
      const body = bytes({ ...json(), before: sha, after: sha });
      assert.deepEqual(gitea.classify(delivery(headers("push", body), body)), {
        type: "ping",
        eventType: "push",
        deliveryId: ID,
        reason: "Gitea test delivery: the hook reaches Fluxgate",
      });
    }
  });

  it("reports a deleting push (zero after) as deleted without a commit", () => {
    const body = bytes({ ...json(), ref: "refs/tags/v1.0.0", before: COMMIT, after: "0000000000000000000000000000000000000000" });
    assert.deepEqual(gitea.classify(delivery(headers("push", body), body)), {
      type: "changes",
      eventType: "push",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/tags/v1.0.0", tag: "v1.0.0" }, deleted: true }],
    });
  });

  // create/delete bodies as in go-playground/webhooks testdata/gitea/create-event.json and delete-event.json.
  it("normalises a tag create to the full tag ref with Gitea's sha, and ignores branch creation", () => {
    const { repository, sender } = json();
    const tag = bytes({ sha: COMMIT, ref: "v1.0.0", ref_type: "tag", repository, sender });
    assert.deepEqual(gitea.classify(delivery(headers("create", tag), tag)), {
      type: "changes",
      eventType: "create",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/tags/v1.0.0", tag: "v1.0.0", commit: COMMIT }, deleted: false }],
    });
    const branch = bytes({ sha: COMMIT, ref: "master", ref_type: "branch", repository, sender });
    assert.deepEqual(gitea.classify(delivery(headers("create", branch), branch)), {
      type: "ignored",
      eventType: "create",
      deliveryId: ID,
      reason: "branch creation: the push event that follows carries the commit",
    });
  });

  it("reports a delete event as a deleted ref", () => {
    const { repository, sender } = json();
    const body = bytes({ ref: "feature/x", ref_type: "branch", pusher_type: "user", repository, sender });
    assert.deepEqual(gitea.classify(delivery(headers("delete", body), body)), {
      type: "changes",
      eventType: "delete",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/feature/x", branch: "feature/x" }, deleted: true }],
    });
  });

  it("ignores issues, pull requests and the like, saying why", () => {
    const body = bytes({ action: "opened", number: 1 });
    assert.deepEqual(gitea.classify(delivery(headers("pull_request", body), body)), {
      type: "ignored",
      eventType: "pull_request",
      deliveryId: ID,
      reason: "Gitea event pull_request does not change a source",
    });
  });

  it("rejects a flipped byte, a wrong secret, a missing signature and the empty one of a hook without secret", () => {
    const body = fixture("gitea/push-event.json");
    const h = headers("push", body);
    const mismatch = { ok: false, status: 403, reason: "X-Gitea-Signature does not match the payload and the receiver's token" };
    assert.deepEqual(gitea.authenticate(delivery(h, flipByte(body)), { token: TOKEN }, now), mismatch);
    assert.deepEqual(gitea.authenticate(delivery(h, body), { token: "other" }, now), mismatch);
    const { "x-gitea-signature": _, ...unsigned } = h;
    assert.deepEqual(gitea.authenticate(delivery(unsigned, body), { token: TOKEN }, now), {
      ok: false,
      status: 401,
      reason: "no X-Gitea-Signature header: set the webhook's secret in Gitea to the receiver's token",
    });
    assert.deepEqual(gitea.authenticate(delivery({ ...h, "x-gitea-signature": "" }, body), { token: TOKEN }, now), {
      ok: false,
      status: 401,
      reason: "X-Gitea-Signature is empty: the Gitea webhook has no secret; set it to the receiver's token",
    });
  });

  it("answers 400 naming the field for a malformed body, and for a missing X-Gitea-Event", () => {
    const badAfter = bytes({ ...json(), after: "HEAD" });
    assert.throws(() => gitea.classify(delivery(headers("push", badAfter), badAfter)), {
      name: "RequestError",
      status: 400,
      reason: "MalformedPayload",
      message: "Gitea push payload: after: expected a 40 or 64 character lowercase hex object id",
    });
    const bareRef = bytes({ ...json(), ref: "refs/heads/" });
    assert.throws(() => gitea.classify(delivery(headers("push", bareRef), bareRef)), {
      status: 400,
      message: 'ref names no branch or tag: "refs/heads/"',
    });
    const { repository: _, ...noRepo } = json();
    const b = bytes(noRepo);
    assert.throws(() => gitea.classify(delivery(headers("push", b), b)), {
      status: 400,
      message: "Gitea push payload: repository: Invalid input: expected object, received undefined",
    });
    const body = fixture("gitea/push-event.json");
    const { "x-gitea-event": _e, ...noEvent } = headers("push", body);
    assert.throws(() => gitea.classify(delivery(noEvent, body)), { status: 400, reason: "MissingEventType", message: "no X-Gitea-Event header" });
  });
});
