import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { gogs } from "../../../src/webhooks/providers/gogs.ts";
import { github } from "../../../src/webhooks/providers/github.ts";
import { delivery, flipByte, hmacHex } from "../../support/webhook-fixtures.ts";

// No Gogs fixture exists: these bodies follow go-playground/webhooks testdata/gogs/{push,create}-event.json, which
// mirror Gogs' api.PushPayload / api.CreatePayload. Headers as Gogs internal/database/webhook.go `deliver` sends them.
const TOKEN = "s3cr3t";
const ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const headers = (event: string, body: Uint8Array, extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  "x-github-delivery": ID,
  "x-github-event": event,
  "x-gogs-delivery": ID,
  "x-gogs-event": event,
  "x-gogs-signature": hmacHex("sha256", TOKEN, body),
  ...extra,
});
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2));
const repository = {
  id: 140,
  owner: { id: 1, login: "unknwon", full_name: "Unknwon", email: "u@gogs.io", username: "unknwon" },
  name: "webhooks",
  full_name: "unknwon/webhooks",
  private: false,
  fork: false,
  html_url: "http://localhost:3000/unknwon/webhooks",
  ssh_url: "ssh://unknwon@localhost:2222/unknwon/webhooks.git",
  clone_url: "http://localhost:3000/unknwon/webhooks.git",
  default_branch: "master",
};
const sender = { id: 1, login: "unknwon", full_name: "Unknwon", email: "u@gogs.io", username: "unknwon" };
const push = (before: string, after: string, ref = "refs/heads/develop") =>
  bytes({
    ref,
    before,
    after,
    compare_url: `http://localhost:3000/unknwon/webhooks/compare/${before}...${after}`,
    commits: [{ id: after, message: "Add new feature", url: `http://localhost:3000/unknwon/webhooks/commit/${after}`, author: { name: "Unknwon", email: "u@gogs.io", username: "unknwon" } }],
    repository,
    pusher: sender,
    sender,
  });
const REPO = {
  urls: ["http://localhost:3000/unknwon/webhooks.git", "ssh://unknwon@localhost:2222/unknwon/webhooks.git"],
  key: "localhost:3000/unknwon/webhooks",
};
const BEFORE = "28e1879d029cb852e4844d9c718537df08844e03";
const AFTER = "bffeb74224043ba2feb48d137756c8a9331c449a";
const now = new Date();

describe("Gogs provider", () => {
  it("normalises a push to the branch and its commit", () => {
    const body = push(BEFORE, AFTER);
    const d = delivery(headers("push", body), body);
    assert.deepEqual(gogs.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(gogs.classify(d), {
      type: "changes",
      eventType: "push",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/develop", branch: "develop", commit: AFTER }, deleted: false }],
    });
  });

  it("serves Flux github receivers (which Flux itself cannot verify for Gogs), and GitHub leaves Gogs deliveries alone", () => {
    const body = push(BEFORE, AFTER);
    const d = delivery(headers("push", body), body);
    assert.deepEqual(gogs.fluxTypes, ["github"]);
    assert.deepEqual([gogs.recognises?.(d), github.recognises?.(d)], [true, false]);
    assert.equal(gogs.recognises?.(delivery(headers("push", body, { "x-gitea-event": "push" }), body)), false);
  });

  it("normalises a tag create (short ref, no commit in Gogs' payload) and reports delete as deleted", () => {
    const tag = bytes({ ref: "v0.3.0", ref_type: "tag", default_branch: "master", repository, sender });
    assert.deepEqual(gogs.classify(delivery(headers("create", tag), tag)), {
      type: "changes",
      eventType: "create",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/tags/v0.3.0", tag: "v0.3.0" }, deleted: false }],
    });
    const del = bytes({ ref: "v0.2.0", ref_type: "tag", pusher_type: "user", repository, sender });
    assert.deepEqual(gogs.classify(delivery(headers("delete", del), del)), {
      type: "changes",
      eventType: "delete",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/tags/v0.2.0", tag: "v0.2.0" }, deleted: true }],
    });
  });

  it("answers the Test button's push (before = after) as a ping and ignores other events", () => {
    const body = push(AFTER, AFTER, "refs/heads/master");
    assert.deepEqual(gogs.classify(delivery(headers("push", body), body)), {
      type: "ping",
      eventType: "push",
      deliveryId: ID,
      reason: "Gogs test delivery: the hook reaches Fluxgate",
    });
    const fork = bytes({ forkee: repository, repository, sender });
    assert.deepEqual(gogs.classify(delivery(headers("fork", fork), fork)), {
      type: "ignored",
      eventType: "fork",
      deliveryId: ID,
      reason: "Gogs event fork does not change a source",
    });
  });

  it("checks X-Gogs-Signature: a flipped byte or wrong secret is 403, a missing or empty one 401", () => {
    const body = push(BEFORE, AFTER);
    const h = headers("push", body);
    const mismatch = { ok: false, status: 403, reason: "X-Gogs-Signature does not match the payload and the receiver's token" };
    assert.deepEqual(gogs.authenticate(delivery(h, flipByte(body)), { token: TOKEN }, now), mismatch);
    assert.deepEqual(gogs.authenticate(delivery(h, body), { token: "other" }, now), mismatch);
    const { "x-gogs-signature": _, ...unsigned } = h;
    assert.deepEqual(gogs.authenticate(delivery(unsigned, body), { token: TOKEN }, now), {
      ok: false,
      status: 401,
      reason: "no X-Gogs-Signature header: set the webhook's secret in Gogs to the receiver's token",
    });
    assert.deepEqual(gogs.authenticate(delivery({ ...h, "x-gogs-signature": "" }, body), { token: TOKEN }, now), {
      ok: false,
      status: 401,
      reason: "X-Gogs-Signature is empty: the Gogs webhook has no secret; set it to the receiver's token",
    });
  });

  it("answers 400 naming the field for a malformed push, and for a missing X-Gogs-Event", () => {
    const body = bytes({ ref: "refs/heads/develop", before: BEFORE, after: AFTER, repository: { ...repository, clone_url: 42 } });
    assert.throws(() => gogs.classify(delivery(headers("push", body), body)), {
      name: "RequestError",
      status: 400,
      reason: "MalformedPayload",
      message: "Gogs push payload: repository.clone_url: Invalid input: expected string, received number",
    });
    const ok = push(BEFORE, AFTER);
    const { "x-gogs-event": _, ...noEvent } = headers("push", ok);
    assert.throws(() => gogs.classify(delivery(noEvent, ok)), { status: 400, reason: "MissingEventType", message: "no X-Gogs-Event header" });
  });
});
