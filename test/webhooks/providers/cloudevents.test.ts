import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cloudevents } from "../../../src/webhooks/providers/cloudevents.ts";
import { delivery } from "../../support/webhook-fixtures.ts";

const TOKEN = "ce-s3cr3t";
const NOW = new Date("2026-04-05T03:56:24Z");
const SHA = "9f2c1b0a4e5d6c7b8a9f0e1d2c3b4a5968778695";
const DIGEST = "sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c";

// Binary mode as in the CloudEvents HTTP binding §3.1.4 example (spec §5.1); structured and batched mode bodies
// per §3.2/§3.3 of the same binding. The data follows Fluxgate's convention (src/webhooks/providers/cloudevents.ts).
const binary = (extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${TOKEN}`,
  "ce-specversion": "1.0",
  "ce-type": "com.example.image.pushed",
  "ce-source": "/registry/prod",
  "ce-id": "1234-1234-1234",
  "ce-time": "2026-04-05T03:56:24Z",
  "content-type": "application/json; charset=utf-8",
  ...extra,
});
const structured = (event: Record<string, unknown>) => JSON.stringify({ specversion: "1.0", id: "e-1", source: "https://ci.example.com/pipelines", type: "com.example.git.pushed", datacontenttype: "application/json", ...event });
const STRUCTURED = { authorization: `Bearer ${TOKEN}`, "content-type": "application/cloudevents+json; charset=UTF-8" };
const APP = { repository: "registry.example.com/app", key: "registry.example.com/app" };
const REPO = { urls: ["https://github.com/org/app.git"], key: "github.com/org/app" };

describe("CloudEvents provider", () => {
  it("requires the receiver's token in Authorization (Bearer or verbatim): 401 without it, 403 when wrong", () => {
    const body = JSON.stringify({ image: "registry.example.com/app", tag: "1.2.3" });
    assert.deepEqual(cloudevents.authenticate(delivery(binary(), body), { token: TOKEN }, NOW), { ok: true });
    assert.deepEqual(cloudevents.authenticate(delivery(binary({ authorization: TOKEN }), body), { token: TOKEN }, NOW), { ok: true });
    const { authorization: _, ...anonymous } = binary();
    assert.deepEqual(cloudevents.authenticate(delivery(anonymous, body), { token: TOKEN }, NOW), {
      ok: false,
      status: 401,
      reason: "no Authorization header: send the receiver's token as Authorization: Bearer <token>",
    });
    assert.deepEqual(cloudevents.authenticate(delivery(binary({ authorization: "Bearer ce-s3cr3u" }), body), { token: TOKEN }, NOW), {
      ok: false,
      status: 403,
      reason: "the Authorization header does not carry the receiver's token",
    });
    assert.deepEqual(cloudevents.fluxTypes, []);
  });

  it("normalises a binary-mode image event, with source#id as the delivery id", () => {
    const body = JSON.stringify({ image: "registry.example.com/app", tag: "1.2.3", digest: DIGEST });
    assert.deepEqual(cloudevents.classify(delivery(binary(), body)), {
      type: "changes",
      eventType: "com.example.image.pushed",
      deliveryId: "/registry/prod#1234-1234-1234",
      changes: [{ kind: "oci", image: { ...APP, tag: "1.2.3", digest: DIGEST }, deleted: false }],
    });
  });

  it("percent-decodes binary-mode header values", () => {
    const body = JSON.stringify({ image: "registry.example.com/app:2.0" });
    assert.deepEqual(cloudevents.classify(delivery(binary({ "ce-source": "/registry/prod%20eu", "ce-id": "a%25b" }), body)), {
      type: "changes",
      eventType: "com.example.image.pushed",
      deliveryId: "/registry/prod eu#a%b",
      changes: [{ kind: "oci", image: { ...APP, tag: "2.0" }, deleted: false }],
    });
  });

  it("normalises a structured-mode git event from repository/ref/commit or url/branch or tag", () => {
    assert.deepEqual(cloudevents.classify(delivery(STRUCTURED, structured({ data: { repository: "https://github.com/org/app.git", ref: "refs/heads/main", commit: SHA } }))), {
      type: "changes",
      eventType: "com.example.git.pushed",
      deliveryId: "https://ci.example.com/pipelines#e-1",
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/main", branch: "main", commit: SHA }, deleted: false }],
    });
    const dataBase64 = Buffer.from(JSON.stringify({ url: "https://github.com/org/app.git", tag: "v1.2.3" })).toString("base64");
    assert.deepEqual(cloudevents.classify(delivery(STRUCTURED, structured({ data_base64: dataBase64 }))), {
      type: "changes",
      eventType: "com.example.git.pushed",
      deliveryId: "https://ci.example.com/pipelines#e-1",
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/tags/v1.2.3", tag: "v1.2.3" }, deleted: false }],
    });
    assert.deepEqual(cloudevents.classify(delivery(STRUCTURED, structured({ data: { repository: "git@github.com:org/app.git", branch: "old", deleted: true } }))), {
      type: "changes",
      eventType: "com.example.git.pushed",
      deliveryId: "https://ci.example.com/pipelines#e-1",
      changes: [{ kind: "git", git: { urls: ["git@github.com:org/app.git"], key: "github.com/org/app", ref: "refs/heads/old", branch: "old" }, deleted: true }],
    });
  });

  it("normalises a chart event to a helm change", () => {
    const body = structured({ type: "com.example.chart.pushed", data: { chart: "oci://registry.example.com/charts/app", version: "0.4.0" } });
    assert.deepEqual(cloudevents.classify(delivery(STRUCTURED, body)), {
      type: "changes",
      eventType: "com.example.chart.pushed",
      deliveryId: "https://ci.example.com/pipelines#e-1",
      changes: [{ kind: "helm", image: { repository: "registry.example.com/charts/app", key: "registry.example.com/charts/app", tag: "0.4.0" }, deleted: false }],
    });
  });

  it("reads Harbor and CDEvents events as their own providers do", () => {
    const harbor = structured({ source: "/projects/1/webhook/policies/3", type: "harbor.artifact.pushed", data: { resources: [{ digest: DIGEST, tag: "1.0", resource_url: "harbor.dev/library/app:1.0" }] } });
    assert.deepEqual(cloudevents.classify(delivery(STRUCTURED, harbor)), {
      type: "changes",
      eventType: "harbor.artifact.pushed",
      deliveryId: "/projects/1/webhook/policies/3#e-1",
      changes: [{ kind: "oci", image: { repository: "harbor.dev/library/app", key: "harbor.dev/library/app", tag: "1.0", digest: DIGEST }, deleted: false }],
    });
    const type = "dev.cdevents.branch.created.0.2.0";
    const cdevent = { context: { version: "0.4.1", id: "c-1", source: "/scm", type, timestamp: "2026-04-05T03:56:24Z" }, subject: { id: "main", type: "branch", content: { repository: { id: "org/app", source: "https://github.com" } } } };
    assert.deepEqual(cloudevents.classify(delivery(binary({ "ce-type": type, "ce-source": "/scm", "ce-id": "c-1" }), JSON.stringify(cdevent))), {
      type: "changes",
      eventType: type,
      deliveryId: "/scm#c-1",
      changes: [{ kind: "git", git: { urls: ["https://github.com/org/app"], key: "github.com/org/app", ref: "refs/heads/main", branch: "main" }, deleted: false }],
    });
  });

  it("splits a batch into its events and keys the delivery by all their ids", () => {
    const events = [
      { specversion: "1.0", id: "1", source: "/ci", type: "com.example.image.pushed", data: { image: "registry.example.com/app:1.0" } },
      { specversion: "1.0", id: "2", source: "/ci", type: "com.example.build.finished", data: { outcome: "success" } },
      { specversion: "1.0", id: "3", source: "/ci", type: "com.example.image.pushed", data: { image: "registry.example.com/app:1.1" } },
    ];
    const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/cloudevents-batch+json" };
    assert.deepEqual(cloudevents.classify(delivery(headers, JSON.stringify(events))), {
      type: "changes",
      eventType: "com.example.image.pushed,com.example.build.finished",
      deliveryId: `batch:${createHash("sha256").update("/ci#1\n/ci#2\n/ci#3").digest("hex")}`,
      changes: [
        { kind: "oci", image: { ...APP, tag: "1.0" }, deleted: false },
        { kind: "oci", image: { ...APP, tag: "1.1" }, deleted: false },
      ],
    });
  });

  it("ignores, with the reason, data that follows no convention or names a field wrongly", () => {
    const ignored = (data: unknown, reason: string) =>
      assert.deepEqual(cloudevents.classify(delivery(STRUCTURED, structured({ data }))), { type: "ignored", eventType: "com.example.git.pushed", deliveryId: "https://ci.example.com/pipelines#e-1", reason });
    ignored({ outcome: "success" }, "CloudEvent com.example.git.pushed: data names neither a repository and ref nor an image or chart");
    ignored("text", "CloudEvent com.example.git.pushed: data is not a JSON object");
    ignored({ repository: "https://github.com/org/app.git" }, "CloudEvent com.example.git.pushed: data names a repository but no ref, branch or tag");
    ignored({ repository: "org/app", ref: "refs/heads/main" }, 'CloudEvent com.example.git.pushed: data.repository "org/app" is not a repository URL');
    ignored({ repository: "https://github.com/org/app.git", ref: "refs/heads/main", commit: "XYZ" }, "CloudEvent com.example.git.pushed: data.commit: is not a lowercase hex commit id");
    ignored({ image: 5 }, "CloudEvent com.example.git.pushed: data.image: Invalid input: expected string, received number");
    ignored({ image: "registry.example.com/app", digest: "md5:1" }, 'CloudEvent com.example.git.pushed: data.image: "md5:1" is not a digest (algorithm:hex)');
  });

  it("answers 400 naming the attribute for a malformed CloudEvent", () => {
    const { "ce-id": _, ...noId } = binary();
    assert.throws(() => cloudevents.classify(delivery(noId, "{}")), { name: "RequestError", status: 400, message: "binary-mode CloudEvent without a ce-id header" });
    assert.throws(() => cloudevents.classify(delivery(binary({ "ce-specversion": "0.3" }), "{}")), { status: 400, message: 'ce-specversion "0.3": only CloudEvents 1.0 is understood' });
    assert.throws(() => cloudevents.classify(delivery(binary({ "ce-source": "%E0%A4%A" }), "{}")), { status: 400, message: 'header ce-source is not valid percent-encoding: "%E0%A4%A"' });
    assert.throws(() => cloudevents.classify(delivery(binary(), "{")), { status: 400, reason: "MalformedPayload" });
    assert.throws(() => cloudevents.classify(delivery(STRUCTURED, JSON.stringify({ specversion: "1.0", id: "1", type: "t" }))), { status: 400, message: "CloudEvent payload: source: Invalid input: expected string, received undefined" });
    const batch = { authorization: `Bearer ${TOKEN}`, "content-type": "application/cloudevents-batch+json" };
    assert.throws(() => cloudevents.classify(delivery(batch, JSON.stringify([{ specversion: "1.0", id: "1", source: "/s", type: "" }]))), { status: 400, message: "CloudEvents batch [0] payload: type: Too small: expected string to have >=1 characters" });
    assert.throws(() => cloudevents.classify(delivery(batch, "[]")), { status: 400, message: "CloudEvents batch payload: (body): an empty batch" });
    assert.throws(() => cloudevents.classify(delivery({ "content-type": "application/json" }, "{}")), {
      status: 400,
      message: "not a CloudEvent: no ce-specversion header (binary mode) and Content-Type is not application/cloudevents+json (structured mode)",
    });
  });
});
