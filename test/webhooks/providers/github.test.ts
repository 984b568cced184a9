import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { github } from "../../../src/webhooks/providers/github.ts";
import { delivery, fixture, flipByte, hmacHex } from "../../support/webhook-fixtures.ts";

const TOKEN = "s3cr3t";
const ID = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const headers = (event: string, body: Uint8Array, extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  "x-github-event": event,
  "x-github-delivery": ID,
  "x-github-hook-id": "1",
  "x-hub-signature-256": `sha256=${hmacHex("sha256", TOKEN, body)}`,
  "user-agent": "GitHub-Hookshot/test",
  ...extra,
});
const REPO = {
  urls: ["https://github.com/Codertocat/Hello-World.git", "git@github.com:Codertocat/Hello-World.git", "git://github.com/Codertocat/Hello-World.git"],
  key: "github.com/codertocat/hello-world",
};

describe("GitHub provider", () => {
  it("accepts GitHub's documented signature test vector", () => {
    const body = new TextEncoder().encode("Hello, World!");
    const d = delivery({ "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" }, body);
    assert.deepEqual(github.authenticate(d, { token: "It's a Secret to Everybody" }, new Date()), { ok: true });
  });

  it("normalises a tag-deleting push: the tag, deleted, no commit", () => {
    const body = fixture("github/push-payload.json");
    const d = delivery(headers("push", body), body);
    assert.deepEqual(github.authenticate(d, { token: TOKEN }, new Date()), { ok: true });
    assert.deepEqual(github.classify(d), {
      type: "changes",
      eventType: "push",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/tags/simple-tag", tag: "simple-tag" }, deleted: true }],
    });
  });

  it("normalises a branch push with its commit", () => {
    const json = JSON.parse(new TextDecoder().decode(fixture("github/push-payload.json"))) as Record<string, unknown>;
    const body = new TextEncoder().encode(JSON.stringify({ ...json, ref: "refs/heads/main", deleted: false, after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246" }));
    assert.deepEqual(github.classify(delivery(headers("push", body), body)), {
      type: "changes",
      eventType: "push",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/main", branch: "main", commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246" }, deleted: false }],
    });
  });

  it("normalises a tag create event to the full tag ref", () => {
    const body = fixture("github/create-payload.json");
    assert.deepEqual(github.classify(delivery(headers("create", body), body)), {
      type: "changes",
      eventType: "create",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/tags/simple-tag", tag: "simple-tag" }, deleted: false }],
    });
  });

  it("answers ping as a ping and ignores pull requests", () => {
    const ping = fixture("github/ping-payload.json");
    assert.equal(github.classify(delivery(headers("ping", ping), ping)).type, "ping");
    const pr = fixture("github/pull_request-opened.payload.json");
    assert.deepEqual(github.classify(delivery(headers("pull_request", pr), pr)), {
      type: "ignored",
      eventType: "pull_request",
      deliveryId: ID,
      reason: "GitHub event pull_request does not change a source",
    });
  });

  it("normalises GHCR package and registry_package publications to the image and digest", () => {
    for (const [event, file] of [["package", "github/package-published.docker.payload.json"], ["registry_package", "github/registry_package-published.docker.payload.json"]] as const) {
      const body = fixture(file);
      assert.deepEqual(github.classify(delivery(headers(event, body), body)), {
        type: "changes",
        eventType: event,
        deliveryId: ID,
        changes: [{ kind: "oci", image: { repository: "ghcr.io/codertocat/hello-world", key: "ghcr.io/codertocat/hello-world", digest: "sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b" }, deleted: false }],
      });
    }
  });

  it("verifies form-encoded deliveries over the raw form body", () => {
    const json = new TextDecoder().decode(fixture("github/create-payload.json"));
    const body = new TextEncoder().encode(`payload=${encodeURIComponent(json)}`);
    const d = delivery(headers("create", body, { "content-type": "application/x-www-form-urlencoded" }), body);
    assert.deepEqual(github.authenticate(d, { token: TOKEN }, new Date()), { ok: true });
    assert.equal(github.classify(d).type, "changes");
  });

  it("rejects a flipped byte, a wrong secret and a missing signature", () => {
    const body = fixture("github/push-payload.json");
    const h = headers("push", body);
    assert.deepEqual(github.authenticate(delivery(h, flipByte(body)), { token: TOKEN }, new Date()), {
      ok: false,
      status: 403,
      reason: "sha256 signature does not match the body and the receiver's token",
    });
    assert.equal((github.authenticate(delivery(h, body), { token: "other" }, new Date()) as { status: number }).status, 403);
    const { "x-hub-signature-256": _, ...unsigned } = h;
    assert.deepEqual(github.authenticate(delivery(unsigned, body), { token: TOKEN }, new Date()), {
      ok: false,
      status: 401,
      reason: "no X-Hub-Signature-256 header: set the webhook secret in GitHub to the receiver's token",
    });
    assert.equal((github.authenticate(delivery({ ...h, "x-hub-signature-256": "md5=00" }, body), { token: TOKEN }, new Date()) as { status: number }).status, 403);
  });

  it("answers 400 for a malformed body or an unsupported content type", () => {
    const bad = new TextEncoder().encode('{"ref": 1}');
    assert.throws(() => github.classify(delivery(headers("push", bad), bad)), { name: "RequestError", status: 400, message: "GitHub push payload: ref: Invalid input: expected string, received number" });
    const text = new TextEncoder().encode("{");
    assert.throws(() => github.classify(delivery(headers("push", text), text)), { status: 400, reason: "MalformedPayload" });
    assert.throws(() => github.classify(delivery(headers("push", text, { "content-type": "text/plain" }), text)), { status: 400, reason: "UnsupportedContentType" });
  });
});
