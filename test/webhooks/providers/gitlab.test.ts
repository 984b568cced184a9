import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { gitlab } from "../../../src/webhooks/providers/gitlab.ts";
import { delivery, fixture } from "../../support/webhook-fixtures.ts";

const TOKEN = "s3cr3t";
const IDEMPOTENCY_KEY = "2c4a5e2a-7a6f-4a59-9a1b-0d3a4c1e9f10";
const EVENT_UUID = "b3d1c7a0-1f2e-4c5d-8e9f-a0b1c2d3e4f5";
const headers = (event: string, extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  "user-agent": "GitLab/18.10.0",
  "x-gitlab-event": event,
  "x-gitlab-token": TOKEN,
  "idempotency-key": IDEMPOTENCY_KEY,
  "x-gitlab-event-uuid": EVENT_UUID,
  "x-gitlab-instance": "https://gitlab.example.com",
  ...extra,
});
const json = (path: string) => JSON.parse(new TextDecoder().decode(fixture(path))) as Record<string, unknown>;
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const DIASPORA = { urls: ["http://example.com/mike/diaspora.git", "git@example.com:mike/diaspora.git"], key: "example.com/mike/diaspora" };
const EXAMPLE = { urls: ["http://example.com/jsmith/example.git", "git@example.com:jsmith/example.git"], key: "example.com/jsmith/example" };
const now = new Date();

describe("GitLab provider", () => {
  it("normalises a Push Hook to the branch and its commit, keyed by Idempotency-Key", () => {
    const body = fixture("gitlab/push-event.json");
    const d = delivery(headers("Push Hook"), body);
    assert.deepEqual(gitlab.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(gitlab.classify(d), {
      type: "changes",
      eventType: "Push Hook",
      deliveryId: IDEMPOTENCY_KEY,
      changes: [{ kind: "git", git: { ...DIASPORA, ref: "refs/heads/master", branch: "master", commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7" }, deleted: false }],
    });
  });

  it("normalises a Tag Push Hook to the tag and its commit", () => {
    const body = fixture("gitlab/tag-event.json");
    const d = delivery(headers("Tag Push Hook"), body);
    assert.deepEqual(gitlab.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(gitlab.classify(d), {
      type: "changes",
      eventType: "Tag Push Hook",
      deliveryId: IDEMPOTENCY_KEY,
      changes: [{ kind: "git", git: { ...EXAMPLE, ref: "refs/tags/v1.0.0", tag: "v1.0.0", commit: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7" }, deleted: false }],
    });
  });

  it("uses X-Gitlab-Event-UUID as the delivery id before GitLab 17.4 (no Idempotency-Key)", () => {
    const body = fixture("gitlab/push-event.json");
    const { "idempotency-key": _, ...older } = headers("Push Hook");
    assert.equal(gitlab.classify(delivery(older, body)).deliveryId, EVENT_UUID);
  });

  it("reports a deleted tag (zero after, null checkout_sha) as deleted without a commit", () => {
    const body = bytes({ ...json("gitlab/tag-event.json"), before: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", after: "0000000000000000000000000000000000000000", checkout_sha: null });
    assert.deepEqual(gitlab.classify(delivery(headers("Tag Push Hook"), body)), {
      type: "changes",
      eventType: "Tag Push Hook",
      deliveryId: IDEMPOTENCY_KEY,
      changes: [{ kind: "git", git: { ...EXAMPLE, ref: "refs/tags/v1.0.0", tag: "v1.0.0" }, deleted: true }],
    });
  });

  // System-hook bodies as in gitlabhq doc/administration/system_hooks.md: `event_name` instead of `object_kind`, and
  // for an annotated tag `after` is the tag object while `checkout_sha` is the commit.
  it("reads System Hook push and tag_push bodies by event_name, taking checkout_sha as the tag's commit", () => {
    const { object_kind: _p, ...push } = json("gitlab/push-event.json");
    assert.deepEqual(gitlab.classify(delivery(headers("System Hook"), bytes({ ...push, event_name: "push" }))), {
      type: "changes",
      eventType: "System Hook",
      deliveryId: IDEMPOTENCY_KEY,
      changes: [{ kind: "git", git: { ...DIASPORA, ref: "refs/heads/master", branch: "master", commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7" }, deleted: false }],
    });
    const { object_kind: _t, ...tag } = json("gitlab/tag-event.json");
    const body = bytes({ ...tag, event_name: "tag_push", checkout_sha: "5937ac0a7beb003549fc5fd26fc247adbce4a52e" });
    assert.deepEqual(gitlab.classify(delivery(headers("System Hook"), body)), {
      type: "changes",
      eventType: "System Hook",
      deliveryId: IDEMPOTENCY_KEY,
      changes: [{ kind: "git", git: { ...EXAMPLE, ref: "refs/tags/v1.0.0", tag: "v1.0.0", commit: "5937ac0a7beb003549fc5fd26fc247adbce4a52e" }, deleted: false }],
    });
  });

  it("turns a System Hook repository_update into one change per moved ref", () => {
    const { project } = json("gitlab/tag-event.json");
    const body = bytes({
      event_name: "repository_update",
      user_id: 1,
      project_id: 1,
      project,
      changes: [
        { before: "8205ea8d81ce0c6b90fbe8280d118cc9fdad6130", after: "4045ea7a3df38697b3730a20fb73c8bed8a3e69e", ref: "refs/heads/master" },
        { before: "4045ea7a3df38697b3730a20fb73c8bed8a3e69e", after: "0000000000000000000000000000000000000000", ref: "refs/tags/v0.9.0" },
      ],
      refs: ["refs/heads/master", "refs/tags/v0.9.0"],
    });
    assert.deepEqual(gitlab.classify(delivery(headers("System Hook"), body)), {
      type: "changes",
      eventType: "System Hook",
      deliveryId: IDEMPOTENCY_KEY,
      changes: [
        { kind: "git", git: { ...EXAMPLE, ref: "refs/heads/master", branch: "master", commit: "4045ea7a3df38697b3730a20fb73c8bed8a3e69e" }, deleted: false },
        { kind: "git", git: { ...EXAMPLE, ref: "refs/tags/v0.9.0", tag: "v0.9.0" }, deleted: true },
      ],
    });
  });

  it("ignores merge requests and system events that move no ref, saying why", () => {
    const mr = fixture("gitlab/merge-request-event.json");
    const d = delivery(headers("Merge Request Hook"), mr);
    assert.deepEqual(gitlab.authenticate(d, { token: TOKEN }, now), { ok: true });
    assert.deepEqual(gitlab.classify(d), {
      type: "ignored",
      eventType: "Merge Request Hook",
      deliveryId: IDEMPOTENCY_KEY,
      reason: "GitLab event Merge Request Hook does not change a source",
    });
    const created = bytes({ created_at: "2012-07-21T07:30:54Z", event_name: "project_create", name: "StoreCloud", path_with_namespace: "jsmith/storecloud" });
    assert.deepEqual(gitlab.classify(delivery(headers("System Hook"), created)), {
      type: "ignored",
      eventType: "System Hook",
      deliveryId: IDEMPOTENCY_KEY,
      reason: "GitLab system hook event project_create does not change a source",
    });
    // Project hooks of the merge request kind also reach system hooks with object_kind only.
    assert.deepEqual(gitlab.classify(delivery(headers("System Hook"), mr)), {
      type: "ignored",
      eventType: "System Hook",
      deliveryId: IDEMPOTENCY_KEY,
      reason: "GitLab system hook event merge_request does not change a source",
    });
  });

  it("answers 401 without X-Gitlab-Token and 403 for a wrong or one-character-off token", () => {
    const body = fixture("gitlab/push-event.json");
    const { "x-gitlab-token": _, ...untokened } = headers("Push Hook");
    assert.deepEqual(gitlab.authenticate(delivery(untokened, body), { token: TOKEN }, now), {
      ok: false,
      status: 401,
      reason: "no X-Gitlab-Token header: set the webhook's secret token in GitLab to the receiver's token",
    });
    const wrong = { ok: false, status: 403, reason: "X-Gitlab-Token does not match the receiver's token" };
    assert.deepEqual(gitlab.authenticate(delivery(headers("Push Hook"), body), { token: "other" }, now), wrong);
    // The token does not cover the body (GitLab does not sign): a one-character change in the token is what fails.
    assert.deepEqual(gitlab.authenticate(delivery(headers("Push Hook", { "x-gitlab-token": "s3cr3u" }), body), { token: TOKEN }, now), wrong);
    assert.deepEqual(gitlab.authenticate(delivery(headers("Push Hook", { "x-gitlab-token": `${TOKEN}x` }), body), { token: TOKEN }, now), wrong);
  });

  it("answers 400 naming the field for a malformed body, and for a missing X-Gitlab-Event", () => {
    const { project: _, ...noProject } = json("gitlab/push-event.json");
    assert.throws(() => gitlab.classify(delivery(headers("Push Hook"), bytes(noProject))), {
      name: "RequestError",
      status: 400,
      reason: "MalformedPayload",
      message: "GitLab Push Hook payload: project: Invalid input: expected object, received undefined",
    });
    const badAfter = bytes({ ...json("gitlab/push-event.json"), after: "HEAD" });
    assert.throws(() => gitlab.classify(delivery(headers("Push Hook"), badAfter)), {
      status: 400,
      message: "GitLab Push Hook payload: after: expected a 40 or 64 character lowercase hex object id",
    });
    const badUrl = bytes({ ...json("gitlab/push-event.json"), project: { git_http_url: "not a url" } });
    assert.throws(() => gitlab.classify(delivery(headers("Push Hook"), badUrl)), {
      status: 400,
      message: 'project.git_http_url is not a repository URL: "not a url"',
    });
    assert.throws(() => gitlab.classify(delivery(headers("Push Hook"), "{")), { status: 400, reason: "MalformedPayload" });
    const { "x-gitlab-event": _e, ...noEvent } = headers("Push Hook");
    assert.throws(() => gitlab.classify(delivery(noEvent, fixture("gitlab/push-event.json"))), {
      status: 400,
      reason: "MissingEventType",
      message: "no X-Gitlab-Event header",
    });
  });
});
