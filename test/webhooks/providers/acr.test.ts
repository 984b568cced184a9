import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acr } from "../../../src/webhooks/providers/acr.ts";
import { delivery } from "../../support/webhook-fixtures.ts";

const TOKEN = "acr-s3cr3t";
const HEADERS = { "content-type": "application/json", authorization: TOKEN };
const NOW = new Date("2023-11-17T16:52:01Z");

// Bodies from the Azure Container Registry webhook reference (MicrosoftDocs/azure-management-docs
// container-registry-webhook-reference.md): image push, image delete and chart push examples, values kept.
const DIGEST = "sha256:xxxxd5c8786bb9e621a45ece0dbxxxx1cdc624ad20da9fe62e9d25490f33xxxx";
const CHART_DIGEST = "sha256:xxxx8075264b5ba7c14c23672xxxx52ae6a3ebac1c47916e4efe19cd624dxxxx";
const pushEvent = {
  id: "cb8c3971-9adc-488b-xxxx-43cbb4974ff5",
  timestamp: "2023-11-17T16:52:01.343145347Z",
  action: "push",
  target: { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 524, digest: DIGEST, length: 524, repository: "hello-world", tag: "v1" },
  request: { id: "3cbb6949-7549-4fa1-xxxx-a6d5451dffc7", host: "myregistry.azurecr.io", method: "PUT", useragent: "docker/17.09.0-ce go/go1.8.3" },
};
const deleteEvent = {
  id: "afc359ce-df7f-4e32-xxxx-1ff8aa80927b",
  timestamp: "2023-11-17T16:54:53.657764628Z",
  action: "delete",
  target: { mediaType: "application/vnd.docker.distribution.manifest.v2+json", digest: DIGEST, repository: "hello-world" },
  request: { id: "3d78b540-ab61-4f75-xxxx-7ca9ecf559b3", host: "myregistry.azurecr.io", method: "DELETE", useragent: "python-requests/2.18.4" },
};
const chartPush = {
  id: "6356e9e0-627f-4fed-xxxx-d9059b5143ac",
  timestamp: "2023-03-05T23:45:31.2614267Z",
  action: "chart_push",
  target: { mediaType: "application/vnd.acr.helm.chart", size: 25265, digest: CHART_DIGEST, repository: "repo", tag: "wordpress-5.4.0.tgz", name: "wordpress", version: "5.4.0.tgz" },
};
const body = (e: unknown) => JSON.stringify(e);
const HELLO = { repository: "myregistry.azurecr.io/hello-world", key: "myregistry.azurecr.io/hello-world", digest: DIGEST };

describe("ACR provider", () => {
  it("requires the custom Authorization header to carry the token: 401 without it, 403 when wrong", () => {
    assert.deepEqual(acr.authenticate(delivery(HEADERS, body(pushEvent)), { token: TOKEN }, NOW), { ok: true });
    assert.deepEqual(acr.authenticate(delivery({ authorization: `Bearer ${TOKEN}` }, body(pushEvent)), { token: TOKEN }, NOW), { ok: true });
    assert.deepEqual(acr.authenticate(delivery({ "content-type": "application/json" }, body(pushEvent)), { token: TOKEN }, NOW), {
      ok: false,
      status: 401,
      reason: 'no Authorization header: add the custom header "Authorization=<receiver token>" to the ACR webhook (az acr webhook update --headers)',
    });
    assert.deepEqual(acr.authenticate(delivery({ authorization: "acr-s3cr3u" }, body(pushEvent)), { token: TOKEN }, NOW), {
      ok: false,
      status: 403,
      reason: "the Authorization header does not carry the receiver's token",
    });
  });

  it("normalises an image push to request.host/target.repository with tag and digest; the body id is the delivery id", () => {
    assert.deepEqual(acr.classify(delivery(HEADERS, body(pushEvent))), {
      type: "changes",
      eventType: "push",
      deliveryId: "cb8c3971-9adc-488b-xxxx-43cbb4974ff5",
      changes: [{ kind: "oci", image: { ...HELLO, tag: "v1" }, deleted: false }],
    });
  });

  it("marks an image delete as a deletion", () => {
    assert.deepEqual(acr.classify(delivery(HEADERS, body(deleteEvent))), {
      type: "changes",
      eventType: "delete",
      deliveryId: "afc359ce-df7f-4e32-xxxx-1ff8aa80927b",
      changes: [{ kind: "oci", image: HELLO, deleted: true }],
    });
  });

  it("normalises a chart push with a request host to a helm change; without one it is ignored", () => {
    assert.deepEqual(acr.classify(delivery(HEADERS, body(chartPush))), {
      type: "ignored",
      eventType: "chart_push",
      deliveryId: "6356e9e0-627f-4fed-xxxx-d9059b5143ac",
      reason: "ACR chart_push without request.host: the registry of the chart is unknown",
    });
    const withHost = { ...chartPush, action: "chart_delete", request: { host: "myregistry.azurecr.io" } };
    assert.deepEqual(acr.classify(delivery(HEADERS, body(withHost))), {
      type: "changes",
      eventType: "chart_delete",
      deliveryId: "6356e9e0-627f-4fed-xxxx-d9059b5143ac",
      changes: [{ kind: "helm", image: { repository: "myregistry.azurecr.io/repo/wordpress", key: "myregistry.azurecr.io/repo/wordpress", tag: "5.4.0", digest: CHART_DIGEST }, deleted: true }],
    });
  });

  it("answers az acr webhook ping as a ping and ignores quarantine and unknown actions", () => {
    // Ping body shape assumed (the reference does not show one): only `action` and `id` are read.
    assert.deepEqual(acr.classify(delivery(HEADERS, body({ id: "p-1", timestamp: "2023-11-17T16:50:00Z", action: "ping" }))), {
      type: "ping",
      eventType: "ping",
      deliveryId: "p-1",
      reason: "ACR ping: the webhook reaches Fluxgate",
    });
    assert.deepEqual(acr.classify(delivery(HEADERS, body({ ...pushEvent, action: "quarantine" }))), {
      type: "ignored",
      eventType: "quarantine",
      deliveryId: "cb8c3971-9adc-488b-xxxx-43cbb4974ff5",
      reason: "ACR quarantine: the image is not released yet",
    });
    assert.deepEqual(acr.classify(delivery(HEADERS, body({ action: "import" }))), { type: "ignored", eventType: "import", reason: "ACR action import does not change an image" });
  });

  it("answers 400 naming the field for a malformed body", () => {
    const { request: _, ...noRequest } = pushEvent;
    assert.throws(() => acr.classify(delivery(HEADERS, body(noRequest))), { name: "RequestError", status: 400, message: "ACR payload: request: Invalid input: expected object, received undefined" });
    assert.throws(() => acr.classify(delivery(HEADERS, body({ ...pushEvent, target: { ...pushEvent.target, digest: "abc" } }))), { status: 400, message: "ACR payload: target.digest: is not a digest (algorithm:hex)" });
    assert.throws(() => acr.classify(delivery(HEADERS, body({ id: "x" }))), { status: 400, message: "ACR payload: action: Invalid input: expected string, received undefined" });
  });
});
