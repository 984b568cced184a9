import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { quay } from "../../../src/webhooks/providers/quay.ts";
import { delivery } from "../../support/webhook-fixtures.ts";

// "Repository Push" body as in Red Hat Quay's repository notifications documentation (spec §4.3, QUAY); Quay sends
// only Content-Type.
const HEADERS = { "content-type": "application/json" };
const push = (updated_tags: unknown) =>
  JSON.stringify({ name: "repository", repository: "mynamespace/repository", namespace: "mynamespace", docker_url: "quay.io/mynamespace/repository", homepage: "https://quay.io/repository/mynamespace/repository", updated_tags });
const IMAGE = { repository: "quay.io/mynamespace/repository", key: "quay.io/mynamespace/repository" };

describe("Quay provider", () => {
  it("accepts every delivery: Quay sends no credentials, the URL is the secret", () => {
    assert.deepEqual(quay.authenticate(delivery(HEADERS, push(["latest"])), { token: "s3cr3t" }, new Date()), { ok: true });
  });

  it("normalises a repository push to one change per updated tag", () => {
    assert.deepEqual(quay.classify(delivery(HEADERS, push(["latest", "1.2.3"]))), {
      type: "changes",
      eventType: "repo_push",
      changes: [
        { kind: "oci", image: { ...IMAGE, tag: "latest" }, deleted: false },
        { kind: "oci", image: { ...IMAGE, tag: "1.2.3" }, deleted: false },
      ],
    });
  });

  it("reads the older tag → image id map form of updated_tags", () => {
    assert.deepEqual(quay.classify(delivery(HEADERS, push({ v1: "b2a4d3e1c8f0" }))), {
      type: "changes",
      eventType: "repo_push",
      changes: [{ kind: "oci", image: { ...IMAGE, tag: "v1" }, deleted: false }],
    });
  });

  it("ignores a push that updated no tag", () => {
    assert.deepEqual(quay.classify(delivery(HEADERS, push([]))), { type: "ignored", eventType: "repo_push", reason: "Quay push without updated tags" });
  });

  it("answers 400 naming the field for a body without docker_url or tags", () => {
    assert.throws(() => quay.classify(delivery(HEADERS, JSON.stringify({ updated_tags: ["x"] }))), {
      name: "RequestError",
      status: 400,
      message: "Quay repository push payload: docker_url: Invalid input: expected string, received undefined",
    });
    assert.throws(() => quay.classify(delivery(HEADERS, JSON.stringify({ docker_url: "quay.io/a/b", updated_tags: "latest" }))), {
      status: 400,
      message: "Quay repository push payload: updated_tags: expected a list of tags",
    });
  });
});
