import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { harbor } from "../../../src/webhooks/providers/harbor.ts";
import { delivery } from "../../support/webhook-fixtures.ts";

const TOKEN = "Bearer harbor-s3cr3t";
const DIGEST = "sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c";
const DIGEST2 = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";
const NOW = new Date("2026-03-06T06:08:43Z");

// Shapes from goharbor/harbor src/pkg/notifier/formats/default.go and cloudevents.go (doc comments there), values
// adapted: one push of two tags, and one push by digest (Harbor then repeats the digest in `tag`).
const eventData = {
  resources: [
    { digest: DIGEST, tag: "1.2.3", resource_url: "harbor.dev/library/app:1.2.3" },
    { digest: DIGEST, tag: "latest", resource_url: "harbor.dev/library/app:latest" },
  ],
  repository: { date_created: 1677053165, name: "app", namespace: "library", repo_full_name: "library/app", repo_type: "public" },
};
const defaultBody = (type: string, data: unknown = eventData) => JSON.stringify({ type, occur_at: 1678082303, operator: "admin", event_data: data });
const cloudEvent = (type: string, data: unknown = eventData) =>
  JSON.stringify({ specversion: "1.0", requestid: "2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84", id: "4b2f89a6-548d-4c12-9993-a1f5790b97d2", source: "/projects/1/webhook/policies/3", type, datacontenttype: "application/json", time: "2026-03-06T06:08:43Z", data, operator: "robot$ci" });
const JSON_HEADERS = { "content-type": "application/json", authorization: TOKEN };
const CE_HEADERS = { "content-type": "application/cloudevents+json", authorization: TOKEN };

const APP = { repository: "harbor.dev/library/app", key: "harbor.dev/library/app", digest: DIGEST };
const PUSH_CHANGES = [
  { kind: "oci", image: { ...APP, tag: "1.2.3" }, deleted: false },
  { kind: "oci", image: { ...APP, tag: "latest" }, deleted: false },
];

describe("Harbor provider", () => {
  it("accepts the Authorization header equal to the token (Flux's rule) or as Bearer <token>", () => {
    assert.deepEqual(harbor.authenticate(delivery(JSON_HEADERS, defaultBody("PUSH_ARTIFACT")), { token: TOKEN }, NOW), { ok: true });
    assert.deepEqual(harbor.authenticate(delivery({ authorization: "Bearer plain-token" }, ""), { token: "plain-token" }, NOW), { ok: true });
  });

  it("rejects a missing header with 401, a wrong or altered one with 403", () => {
    const body = defaultBody("PUSH_ARTIFACT");
    assert.deepEqual(harbor.authenticate(delivery({ "content-type": "application/json" }, body), { token: TOKEN }, NOW), {
      ok: false,
      status: 401,
      reason: "no Authorization header: set the Harbor webhook policy's Auth Header to the receiver's token",
    });
    const wrong = { ok: false, status: 403, reason: "the Authorization header does not carry the receiver's token" };
    assert.deepEqual(harbor.authenticate(delivery({ authorization: "Bearer harbor-s3cr3u" }, body), { token: TOKEN }, NOW), wrong);
    assert.deepEqual(harbor.authenticate(delivery(JSON_HEADERS, body), { token: "other" }, NOW), wrong);
    assert.deepEqual(harbor.authenticate(delivery({ authorization: "anything" }, body), { token: "" }, NOW), {
      ok: false,
      status: 403,
      reason: "the receiver's secret has no token to compare the Authorization header with",
    });
  });

  it("normalises a Default-format PUSH_ARTIFACT to one change per pushed resource", () => {
    assert.deepEqual(harbor.classify(delivery(JSON_HEADERS, defaultBody("PUSH_ARTIFACT"))), { type: "changes", eventType: "PUSH_ARTIFACT", changes: PUSH_CHANGES });
  });

  it("drops the tag Harbor fills with the digest for a push by digest", () => {
    const data = { resources: [{ digest: DIGEST2, tag: DIGEST2, resource_url: `harbor.dev/library/app@${DIGEST2}` }] };
    assert.deepEqual(harbor.classify(delivery(JSON_HEADERS, defaultBody("PUSH_ARTIFACT", data))), {
      type: "changes",
      eventType: "PUSH_ARTIFACT",
      changes: [{ kind: "oci", image: { repository: "harbor.dev/library/app", key: "harbor.dev/library/app", digest: DIGEST2 }, deleted: false }],
    });
  });

  it("normalises a CloudEvents-format harbor.artifact.pushed, with source#id as the delivery id", () => {
    assert.deepEqual(harbor.classify(delivery(CE_HEADERS, cloudEvent("harbor.artifact.pushed"))), {
      type: "changes",
      eventType: "harbor.artifact.pushed",
      deliveryId: "/projects/1/webhook/policies/3#4b2f89a6-548d-4c12-9993-a1f5790b97d2",
      changes: PUSH_CHANGES,
    });
  });

  it("reads a binary-mode CloudEvent the same way", () => {
    const headers = { "content-type": "application/json", authorization: TOKEN, "ce-specversion": "1.0", "ce-id": "e-1", "ce-source": "/projects/1/webhook/policies/3", "ce-type": "harbor.artifact.pushed" };
    assert.deepEqual(harbor.classify(delivery(headers, JSON.stringify(eventData))), {
      type: "changes",
      eventType: "harbor.artifact.pushed",
      deliveryId: "/projects/1/webhook/policies/3#e-1",
      changes: PUSH_CHANGES,
    });
  });

  it("ignores pulls, scans and deletions (Flux would trigger on them)", () => {
    for (const type of ["PULL_ARTIFACT", "DELETE_ARTIFACT", "SCANNING_COMPLETED", "SCANNING_FAILED"]) {
      assert.deepEqual(harbor.classify(delivery(JSON_HEADERS, defaultBody(type))), { type: "ignored", eventType: type, reason: `Harbor event ${type} does not push an artifact` });
    }
    assert.deepEqual(harbor.classify(delivery(CE_HEADERS, cloudEvent("harbor.scan.completed"))), {
      type: "ignored",
      eventType: "harbor.scan.completed",
      deliveryId: "/projects/1/webhook/policies/3#4b2f89a6-548d-4c12-9993-a1f5790b97d2",
      reason: "Harbor event harbor.scan.completed does not push an artifact",
    });
  });

  it("answers 400 naming the field for a malformed push", () => {
    assert.throws(() => harbor.classify(delivery(JSON_HEADERS, defaultBody("PUSH_ARTIFACT", { resources: [{ tag: "1" }] }))), {
      name: "RequestError",
      status: 400,
      message: "Harbor event_data payload: resources.0.resource_url: Invalid input: expected string, received undefined",
    });
    assert.throws(() => harbor.classify(delivery(JSON_HEADERS, defaultBody("PUSH_ARTIFACT", { resources: [{ resource_url: "harbor.dev/library/app:1", digest: "md5" }] }))), {
      status: 400,
      message: "Harbor event_data payload: resources.0.digest: is not a digest (algorithm:hex)",
    });
    assert.throws(() => harbor.classify(delivery(JSON_HEADERS, JSON.stringify({ event_data: {} }))), { status: 400, message: "Harbor payload: type: Invalid input: expected string, received undefined" });
    const noSource = JSON.stringify({ specversion: "1.0", id: "1", type: "harbor.artifact.pushed", data: eventData });
    assert.throws(() => harbor.classify(delivery(CE_HEADERS, noSource)), { status: 400, message: "CloudEvent payload: source: Invalid input: expected string, received undefined" });
  });
});
