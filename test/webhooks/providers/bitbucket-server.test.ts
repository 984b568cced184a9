import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bitbucketServer } from "../../../src/webhooks/providers/bitbucket-server.ts";
import { delivery, fixture, flipByte, hmacHex } from "../../support/webhook-fixtures.ts";

const TOKEN = "s3cr3t";
const REQUEST = "7c1f9e2a-4b3d-4e5f-8a6b-9c0d1e2f3a4b";
const headers = (event: string, body: Uint8Array, extra: Record<string, string> = {}) => ({
  "content-type": "application/json; charset=UTF-8",
  "x-event-key": event,
  "x-request-id": REQUEST,
  "x-hub-signature": `sha256=${hmacHex("sha256", TOKEN, body)}`,
  ...extra,
});
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
const json = (path: string) => JSON.parse(new TextDecoder().decode(fixture(path))) as Record<string, unknown>;
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const REPO = {
  urls: ["https://server.bitbucket.local/scm/~gopher/webhook-test.git", "ssh://git@server.bitbucket.local:7999/~gopher/webhook-test.git"],
  key: "server.bitbucket.local/scm/~gopher/webhook-test",
};
const PING_BODY = bytes({ test: true });
const now = new Date();

describe("Bitbucket Server provider", () => {
  it("normalises the refs_changed fixture (a branch deletion) to deleted without a commit, http clone URL first", () => {
    const body = fixture("bitbucket-server/repo-refs-changed.json");
    const d = delivery(headers("repo:refs_changed", body), body);
    assert.deepEqual(bitbucketServer.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(bitbucketServer.classify(d), {
      type: "changes",
      eventType: "repo:refs_changed",
      deliveryId: REQUEST,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/feature/wip", branch: "feature/wip" }, deleted: true }],
    });
  });

  it("turns a push of a new tag and an updated branch into one draft each, with their commits", () => {
    const changes = [
      { ref: { id: "refs/tags/v1.4.0", displayId: "v1.4.0", type: "TAG" }, refId: "refs/tags/v1.4.0", fromHash: "0000000000000000000000000000000000000000", toHash: "178864a7d521b6f5e720b386b2c2b0ef8563e0dc", type: "ADD" },
      { ref: { id: "refs/heads/main", displayId: "main", type: "BRANCH" }, refId: "refs/heads/main", fromHash: "32a0b8a740c2963c6f56bd8baf3dc05683d299e0", toHash: "178864a7d521b6f5e720b386b2c2b0ef8563e0dc", type: "UPDATE" },
    ];
    const body = bytes({ ...json("bitbucket-server/repo-refs-changed.json"), changes });
    assert.deepEqual(bitbucketServer.classify(delivery(headers("repo:refs_changed", body), body)), {
      type: "changes",
      eventType: "repo:refs_changed",
      deliveryId: REQUEST,
      changes: [
        { kind: "git", git: { ...REPO, ref: "refs/tags/v1.4.0", tag: "v1.4.0", commit: "178864a7d521b6f5e720b386b2c2b0ef8563e0dc" }, deleted: false },
        { kind: "git", git: { ...REPO, ref: "refs/heads/main", branch: "main", commit: "178864a7d521b6f5e720b386b2c2b0ef8563e0dc" }, deleted: false },
      ],
    });
  });

  it("answers an unsigned diagnostics:ping as a ping that proves nothing (Bitbucket 5.x does not sign it)", () => {
    const d = delivery({ "content-type": "application/json; charset=UTF-8", "x-event-key": "diagnostics:ping", "x-request-id": REQUEST }, PING_BODY);
    assert.deepEqual(bitbucketServer.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(bitbucketServer.classify(d), {
      type: "ping",
      eventType: "diagnostics:ping",
      deliveryId: REQUEST,
      reason: "Bitbucket Server test connection without credentials: the hook reaches Fluxgate, but this proves nothing about its secret",
    });
  });

  it("checks a signed diagnostics:ping like any delivery", () => {
    const d = delivery(headers("diagnostics:ping", PING_BODY), PING_BODY);
    assert.deepEqual(bitbucketServer.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(bitbucketServer.classify(d), {
      type: "ping",
      eventType: "diagnostics:ping",
      deliveryId: REQUEST,
      reason: "Bitbucket Server test connection: the hook reaches Fluxgate and its credentials match",
    });
    assert.deepEqual(bitbucketServer.authenticate(d, { token: "other" }, now), {
      ok: false,
      status: 403,
      reason: "sha256 signature does not match the body and the receiver's token",
    });
  });

  it("ignores pull-request and other events, saying why", () => {
    const body = bytes({ eventKey: "pr:opened" });
    assert.deepEqual(bitbucketServer.classify(delivery(headers("pr:opened", body), body)), {
      type: "ignored",
      eventType: "pr:opened",
      deliveryId: REQUEST,
      reason: "Bitbucket Server event pr:opened does not change a source",
    });
  });

  it("rejects a flipped byte, a wrong secret, a malformed signature and an unsigned push", () => {
    const body = fixture("bitbucket-server/repo-refs-changed.json");
    const h = headers("repo:refs_changed", body);
    const mismatch = { ok: false, status: 403, reason: "sha256 signature does not match the body and the receiver's token" };
    assert.deepEqual(bitbucketServer.authenticate(delivery(h, flipByte(body)), { token: TOKEN }, now), mismatch);
    assert.deepEqual(bitbucketServer.authenticate(delivery(h, body), { token: "other" }, now), mismatch);
    assert.deepEqual(bitbucketServer.authenticate(delivery({ ...h, "x-hub-signature": "c3383246" }, body), { token: TOKEN }, now), {
      ok: false,
      status: 403,
      reason: "X-Hub-Signature is not of the form sha256=<hex>",
    });
    const { "x-hub-signature": _, ...unsigned } = h;
    assert.deepEqual(bitbucketServer.authenticate(delivery(unsigned, body), { token: TOKEN }, now), {
      ok: false,
      status: 401,
      reason: "no X-Hub-Signature header: set the webhook's Secret in Bitbucket to the receiver's token, or add username and password to the receiver's Secret for Basic authentication",
    });
  });

  it("requires HTTP Basic when the receiver's Secret has username and password, and still checks a signature sent along", () => {
    const body = fixture("bitbucket-server/repo-refs-changed.json");
    const secret = { token: TOKEN, username: "fluxgate", password: "hunter2" };
    const { "x-hub-signature": _, ...unsigned } = headers("repo:refs_changed", body);
    assert.deepEqual(bitbucketServer.authenticate(delivery({ ...unsigned, authorization: basic("fluxgate", "hunter2") }, body), secret, now), { ok: true });
    assert.deepEqual(bitbucketServer.authenticate(delivery(unsigned, body), secret, now), {
      ok: false,
      status: 401,
      reason: "no Authorization header: set Basic authentication on the Bitbucket webhook to the receiver Secret's username and password",
    });
    assert.deepEqual(bitbucketServer.authenticate(delivery({ ...unsigned, authorization: basic("fluxgate", "hunter3") }, body), secret, now), {
      ok: false,
      status: 403,
      reason: "Basic credentials do not match the receiver Secret's username and password",
    });
    const both = headers("repo:refs_changed", body, { authorization: basic("fluxgate", "hunter2") });
    assert.deepEqual(bitbucketServer.authenticate(delivery(both, body), secret, now), { ok: true });
    assert.deepEqual(bitbucketServer.authenticate(delivery(both, flipByte(body)), secret, now), {
      ok: false,
      status: 403,
      reason: "sha256 signature does not match the body and the receiver's token",
    });
  });

  it("answers 400 naming the field for a malformed body, and for a missing X-Event-Key", () => {
    const { repository: _, ...noRepo } = json("bitbucket-server/repo-refs-changed.json");
    const b = bytes({ ...noRepo, repository: { slug: "webhook-test", links: {} } });
    assert.throws(() => bitbucketServer.classify(delivery(headers("repo:refs_changed", b), b)), {
      name: "RequestError",
      status: 400,
      reason: "MalformedPayload",
      message: "Bitbucket Server repo:refs_changed payload: repository.links.clone: Invalid input: expected array, received undefined",
    });
    const badHash = bytes({ ...json("bitbucket-server/repo-refs-changed.json"), changes: [{ ref: { id: "refs/heads/main" }, toHash: "abc", type: "UPDATE" }] });
    assert.throws(() => bitbucketServer.classify(delivery(headers("repo:refs_changed", badHash), badHash)), {
      status: 400,
      message: "Bitbucket Server repo:refs_changed payload: changes.0.toHash: expected a 40 or 64 character lowercase hex object id",
    });
    const body = fixture("bitbucket-server/repo-refs-changed.json");
    const { "x-event-key": _k, ...noEvent } = headers("repo:refs_changed", body);
    assert.throws(() => bitbucketServer.classify(delivery(noEvent, body)), { status: 400, reason: "MissingEventType", message: "no X-Event-Key header" });
  });
});
