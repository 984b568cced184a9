import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bitbucketCloud } from "../../../src/webhooks/providers/bitbucket-cloud.ts";
import { bitbucketServer } from "../../../src/webhooks/providers/bitbucket-server.ts";
import { delivery, fixture, flipByte, hmacHex } from "../../support/webhook-fixtures.ts";

const TOKEN = "s3cr3t";
const REQUEST = "f2d7a1c4-3b5e-4f60-9a8b-7c6d5e4f3a2b";
const headers = (event: string, body: Uint8Array, extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  "user-agent": "Bitbucket-Webhooks/2.0",
  "x-event-key": event,
  "x-hook-uuid": "{8a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d}",
  "x-request-uuid": REQUEST,
  "x-attempt-number": "1",
  "x-hub-signature": `sha256=${hmacHex("sha256", TOKEN, body)}`,
  ...extra,
});
const json = (path: string) => JSON.parse(new TextDecoder().decode(fixture(path))) as Record<string, unknown>;
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const REPO = {
  urls: ["https://bitbucket.org/team_name/repo_name.git", "git@bitbucket.org:team_name/repo_name.git"],
  key: "bitbucket.org/team_name/repo_name",
};
const now = new Date();

describe("Bitbucket Cloud provider", () => {
  it("normalises the repo:push fixture to the branch and its new commit", () => {
    const body = fixture("bitbucket/repo-push.json");
    const d = delivery(headers("repo:push", body), body);
    assert.deepEqual(bitbucketCloud.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(bitbucketCloud.classify(d), {
      type: "changes",
      eventType: "repo:push",
      deliveryId: REQUEST,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/name-of-branch", branch: "name-of-branch", commit: "709d658dc5b6d6afcd46049c2f332ee3f515a67d" }, deleted: false }],
    });
  });

  it("turns several changes into several drafts: a created tag and a deleted branch (new: null, name from old)", () => {
    const body = bytes({
      repository: { full_name: "team/repo", links: { clone: [{ name: "https", href: "https://bitbucket.org/team/repo.git" }] } },
      push: {
        changes: [
          { new: { type: "tag", name: "v1.2.3", target: { type: "commit", hash: "709d658dc5b6d6afcd46049c2f332ee3f515a67d" } }, old: null, created: true, closed: false, forced: false },
          { new: null, old: { type: "branch", name: "feature/old", target: { type: "commit", hash: "1e65c05c1d5171631d92438a13901ca7dae9618c" } }, created: false, closed: true, forced: false },
        ],
      },
    });
    const urls = ["https://bitbucket.org/team/repo.git", "git@bitbucket.org:team/repo.git"];
    assert.deepEqual(bitbucketCloud.classify(delivery(headers("repo:push", body), body)), {
      type: "changes",
      eventType: "repo:push",
      deliveryId: REQUEST,
      changes: [
        { kind: "git", git: { urls, key: "bitbucket.org/team/repo", ref: "refs/tags/v1.2.3", tag: "v1.2.3", commit: "709d658dc5b6d6afcd46049c2f332ee3f515a67d" }, deleted: false },
        { kind: "git", git: { urls, key: "bitbucket.org/team/repo", ref: "refs/heads/feature/old", branch: "feature/old" }, deleted: true },
      ],
    });
  });

  it("ignores events other than repo:push, and pushes that move no branch or tag", () => {
    const body = bytes({ pullrequest: { id: 1 } });
    assert.deepEqual(bitbucketCloud.classify(delivery(headers("pullrequest:created", body), body)), {
      type: "ignored",
      eventType: "pullrequest:created",
      deliveryId: REQUEST,
      reason: "Bitbucket Cloud event pullrequest:created does not change a source",
    });
    const hg = bytes({ repository: { full_name: "team/repo" }, push: { changes: [{ new: { type: "named_branch", name: "default", target: { hash: "709d658dc5b6d6afcd46049c2f332ee3f515a67d" } }, old: null }] } });
    assert.deepEqual(bitbucketCloud.classify(delivery(headers("repo:push", hg), hg)), {
      type: "ignored",
      eventType: "repo:push",
      deliveryId: REQUEST,
      reason: "Bitbucket Cloud repo:push moved no branch or tag",
    });
  });

  it("recognises Cloud deliveries by X-Hook-UUID/X-Request-UUID, even when a proxy added X-Request-Id", () => {
    const body = fixture("bitbucket/repo-push.json");
    const cloud = delivery(headers("repo:push", body), body);
    const proxied = delivery(headers("repo:push", body, { "x-request-id": "0af7651916cd43dd8448eb211c80319c" }), body);
    const server = delivery({ "x-event-key": "repo:refs_changed", "x-request-id": REQUEST }, body);
    assert.deepEqual([cloud, proxied, server].map((d) => bitbucketCloud.recognises?.(d)), [true, true, false]);
    assert.deepEqual([cloud, proxied, server].map((d) => bitbucketServer.recognises?.(d)), [false, false, true]);
  });

  it("rejects a flipped byte, a wrong secret, a missing signature and a non-sha256 one", () => {
    const body = fixture("bitbucket/repo-push.json");
    const h = headers("repo:push", body);
    const mismatch = { ok: false, status: 403, reason: "sha256 signature does not match the body and the receiver's token" };
    assert.deepEqual(bitbucketCloud.authenticate(delivery(h, flipByte(body)), { token: TOKEN }, now), mismatch);
    assert.deepEqual(bitbucketCloud.authenticate(delivery(h, body), { token: "other" }, now), mismatch);
    const { "x-hub-signature": _, ...unsigned } = h;
    assert.deepEqual(bitbucketCloud.authenticate(delivery(unsigned, body), { token: TOKEN }, now), {
      ok: false,
      status: 401,
      reason: "no X-Hub-Signature header: set the webhook's Secret in Bitbucket to the receiver's token",
    });
    assert.deepEqual(bitbucketCloud.authenticate(delivery({ ...h, "x-hub-signature": `sha1=${hmacHex("sha1", TOKEN, body)}` }, body), { token: TOKEN }, now), {
      ok: false,
      status: 403,
      reason: "X-Hub-Signature is not of the form sha256=<hex>",
    });
  });

  it("answers 400 naming the field for a malformed push, and for a missing X-Event-Key", () => {
    const both = bytes({ repository: { full_name: "team/repo" }, push: { changes: [{ new: null, old: null }] } });
    assert.throws(() => bitbucketCloud.classify(delivery(headers("repo:push", both), both)), {
      name: "RequestError",
      status: 400,
      reason: "MalformedPayload",
      message: "Bitbucket Cloud repo:push payload: push.changes.0: new and old are both null",
    });
    const { push: _, ...noPush } = json("bitbucket/repo-push.json");
    const b = bytes(noPush);
    assert.throws(() => bitbucketCloud.classify(delivery(headers("repo:push", b), b)), {
      status: 400,
      message: "Bitbucket Cloud repo:push payload: push: Invalid input: expected object, received undefined",
    });
    const body = fixture("bitbucket/repo-push.json");
    const { "x-event-key": _k, ...noEvent } = headers("repo:push", body);
    assert.throws(() => bitbucketCloud.classify(delivery(noEvent, body)), { status: 400, reason: "MissingEventType", message: "no X-Event-Key header" });
  });
});
