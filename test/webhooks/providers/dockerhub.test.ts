import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { dockerhub } from "../../../src/webhooks/providers/dockerhub.ts";
import { delivery, fixture } from "../../support/webhook-fixtures.ts";

// Docker Hub sends only Content-Type (spec §2.1); the body is the documented example (fixture dockerhub/push.json).
const HEADERS = { "content-type": "application/json" };

describe("Docker Hub provider", () => {
  it("accepts every delivery: Docker Hub sends no credentials, the URL is the secret", () => {
    const body = fixture("dockerhub/push.json");
    assert.deepEqual(dockerhub.authenticate(delivery(HEADERS, body), { token: "s3cr3t" }, new Date()), { ok: true });
    assert.deepEqual(dockerhub.fluxTypes, ["dockerhub"]);
  });

  it("normalises a push to the docker.io image and the pushed tag, without a digest", () => {
    const body = fixture("dockerhub/push.json");
    assert.deepEqual(dockerhub.classify(delivery(HEADERS, body)), {
      type: "changes",
      eventType: "push",
      changes: [{ kind: "oci", image: { repository: "docker.io/svendowideit/testhook", key: "docker.io/svendowideit/testhook", tag: "latest" }, deleted: false }],
    });
  });

  it("keys official images under library/", () => {
    const body = JSON.stringify({ push_data: { tag: "1.27" }, repository: { repo_name: "library/nginx", repo_url: "https://hub.docker.com/_/nginx" } });
    assert.deepEqual(dockerhub.classify(delivery(HEADERS, body)), {
      type: "changes",
      eventType: "push",
      changes: [{ kind: "oci", image: { repository: "docker.io/library/nginx", key: "docker.io/library/nginx", tag: "1.27" }, deleted: false }],
    });
  });

  it("answers 400 naming the field for a body without a tag or repository name", () => {
    const noTag = JSON.stringify({ push_data: {}, repository: { repo_name: "a/b" } });
    assert.throws(() => dockerhub.classify(delivery(HEADERS, noTag)), { name: "RequestError", status: 400, reason: "MalformedPayload", message: "Docker Hub push payload: push_data.tag: Invalid input: expected string, received undefined" });
    const badName = JSON.stringify({ push_data: { tag: "x" }, repository: { repo_name: "a b" } });
    assert.throws(() => dockerhub.classify(delivery(HEADERS, badName)), { status: 400, message: "Docker Hub push payload: repository.repo_name: is not a repository name like namespace/name" });
    assert.throws(() => dockerhub.classify(delivery(HEADERS, "{")), { status: 400, reason: "MalformedPayload" });
  });
});
