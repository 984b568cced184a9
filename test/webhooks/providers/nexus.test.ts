import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { nexus } from "../../../src/webhooks/providers/nexus.ts";
import { delivery, flipByte, hmacHex } from "../../support/webhook-fixtures.ts";

const TOKEN = "nexus-s3cr3t";
const NOW = new Date("2026-11-10T23:57:49Z");
const DELIVERY = "7f4a6dde-5c68-4999-bcc0-a62f3fb8ae48";

// Headers and body shape from Sonatype's "Example Headers And Payloads" (help.sonatype.com): the documented example
// is an npm asset event; this is the component event of the same form for a docker component (spec §4.5).
const component = (action: string, format = "docker", name = "team/app", version = "1.2.3") =>
  JSON.stringify({
    timestamp: "2026-11-10T23:57:49.664+0000",
    nodeId: "52905B51-085CCABB-CEBBEAAD-16795588-FC927D93",
    initiator: "admin/127.0.0.1",
    repositoryName: "docker-hosted",
    action,
    component: { id: "08909bf0c86cf6c9600aade89e1c5e25", componentId: "ZG9ja2VyLWhvc3RlZDowODkwOWJmMGM4NmNmNmM5NjAwYWFkZTg5ZTFjNWUyNQ", format, name, group: null, version },
  });
const headers = (body: string | Uint8Array, event = "rm:repository:component") => ({
  "content-type": "application/json; charset=UTF-8",
  "user-agent": "Nexus/3.68.0-04 (OSS; Linux; 6.1.0; amd64; 17.0.10)",
  "x-request-id": "d535c62b-063e-4ace-90ce-f7b579d6c37c",
  "x-nexus-webhook-id": event,
  "x-nexus-webhook-delivery": DELIVERY,
  "x-nexus-webhook-signature": hmacHex("sha1", TOKEN, typeof body === "string" ? new TextEncoder().encode(body) : body),
});
const WITH_REGISTRY = "/hook/test?registry=nexus.example.com:8082";
const APP = { repository: "nexus.example.com:8082/team/app", key: "nexus.example.com:8082/team/app", tag: "1.2.3" };

describe("Nexus provider", () => {
  it("accepts the HMAC-SHA1 signature of the body keyed with the token", () => {
    const body = component("CREATED");
    assert.deepEqual(nexus.authenticate(delivery(headers(body), body), { token: TOKEN }, NOW), { ok: true });
  });

  it("rejects a flipped byte or a wrong token with 403 and a missing signature with 401", () => {
    const body = new TextEncoder().encode(component("CREATED"));
    const h = headers(body);
    const mismatch = { ok: false, status: 403, reason: "X-Nexus-Webhook-Signature (HMAC-SHA1) does not match the body and the receiver's token" };
    assert.deepEqual(nexus.authenticate(delivery(h, flipByte(body)), { token: TOKEN }, NOW), mismatch);
    assert.deepEqual(nexus.authenticate(delivery(h, body), { token: "other" }, NOW), mismatch);
    const { "x-nexus-webhook-signature": _, ...unsigned } = h;
    assert.deepEqual(nexus.authenticate(delivery(unsigned, body), { token: TOKEN }, NOW), {
      ok: false,
      status: 401,
      reason: "no X-Nexus-Webhook-Signature header: set the Nexus webhook capability's Secret Key to the receiver's token",
    });
    assert.deepEqual(nexus.authenticate(delivery(h, body), { token: "" }, NOW), { ok: false, status: 403, reason: "the receiver's secret has no token to check the signature with" });
  });

  it("names the image from ?registry= on the webhook URL, the component name and its version", () => {
    for (const action of ["CREATED", "UPDATED"]) {
      const body = component(action);
      assert.deepEqual(nexus.classify(delivery(headers(body), body, WITH_REGISTRY)), {
        type: "changes",
        eventType: "rm:repository:component",
        deliveryId: DELIVERY,
        changes: [{ kind: "oci", image: APP, deleted: false }],
      });
    }
    const deleted = component("DELETED");
    assert.deepEqual(nexus.classify(delivery(headers(deleted), deleted, WITH_REGISTRY)), {
      type: "changes",
      eventType: "rm:repository:component",
      deliveryId: DELIVERY,
      changes: [{ kind: "oci", image: APP, deleted: true }],
    });
  });

  it("falls back to a generic change (every resource, as Flux does) when the URL does not name the registry", () => {
    const body = component("CREATED");
    assert.deepEqual(nexus.classify(delivery(headers(body), body)), {
      type: "changes",
      eventType: "rm:repository:component",
      deliveryId: DELIVERY,
      changes: [{ kind: "generic", deleted: false }],
    });
    const deleted = component("DELETED");
    assert.deepEqual(nexus.classify(delivery(headers(deleted), deleted)), {
      type: "ignored",
      eventType: "rm:repository:component",
      deliveryId: DELIVERY,
      reason: "Nexus deleted team/app in docker-hosted; without ?registry= on the webhook URL the image cannot be named",
    });
  });

  it("ignores asset and audit events and components that are not container images", () => {
    const asset = JSON.stringify({ timestamp: "2016-11-10T23:57:49.664+0000", repositoryName: "npm-proxy", action: "CREATED", asset: { id: "31c950c8eeeab78336308177ae9c441c", format: "npm", name: "concrete" } });
    assert.deepEqual(nexus.classify(delivery(headers(asset, "rm:repository:asset"), asset)), {
      type: "ignored",
      eventType: "rm:repository:asset",
      deliveryId: DELIVERY,
      reason: "Nexus event rm:repository:asset is not a component event (rm:repository:component)",
    });
    const maven = component("CREATED", "maven2", "app", "1.0");
    assert.deepEqual(nexus.classify(delivery(headers(maven), maven, WITH_REGISTRY)), {
      type: "ignored",
      eventType: "rm:repository:component",
      deliveryId: DELIVERY,
      reason: "Nexus maven2 component app is not a container image",
    });
  });

  it("answers 400 for a missing event header or a malformed component", () => {
    const body = component("CREATED");
    const { "x-nexus-webhook-id": _, ...noEvent } = headers(body);
    assert.throws(() => nexus.classify(delivery(noEvent, body)), { name: "RequestError", status: 400, reason: "MissingEventType", message: "no X-Nexus-Webhook-Id header" });
    const bad = JSON.stringify({ repositoryName: "docker-hosted", action: "CREATED", component: { format: "docker" } });
    assert.throws(() => nexus.classify(delivery(headers(bad), bad)), { status: 400, message: "Nexus component payload: component.name: Invalid input: expected string, received undefined" });
  });
});
