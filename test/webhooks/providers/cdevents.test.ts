import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cdevents } from "../../../src/webhooks/providers/cdevents.ts";
import { delivery } from "../../support/webhook-fixtures.ts";

// CDEvent bodies follow cdevents/spec conformance/*.json (change_merged, branch_created, artifact_published at
// 0ae8a69; links dropped); the purls follow the spec's `pkg:oci/...?repository_url=...` example (spec §5.2).
const context = (type: string) => ({ version: "0.4.1", id: "271069a8-fc18-44f1-b38f-9d70a1695819", source: "/event/source/123", type, timestamp: "2023-03-20T14:27:05.315384Z" });
const repository = { id: "TestOrg/TestRepo", source: "https://example.org" };
const scm = (type: string, subjectType: string, subjectId = "mySubject123") => ({ context: context(type), subject: { id: subjectId, source: "/event/source/123", type: subjectType, content: { repository } } });
const DIGEST = "sha256:234fd47e07d1004f0aed9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5";
const artifact = (type: string, id: string) => ({ context: context(type), subject: { id, source: "/event/source/123", type: "artifact", content: {} } });
/** Binary mode as NC's tests and the CDEvents binding send it: ce-* headers mirror the context. */
const binary = (type: string) => ({ "content-type": "application/json", "ce-specversion": "1.0", "ce-id": "271069a8-fc18-44f1-b38f-9d70a1695819", "ce-source": "/event/source/123", "ce-type": type, "ce-time": "2023-03-20T14:27:05.315384Z" });
const ID = "/event/source/123#271069a8-fc18-44f1-b38f-9d70a1695819";
const REPO = { urls: ["https://example.org/TestOrg/TestRepo"], key: "example.org/testorg/testrepo" };
const post = (type: string, body: unknown) => cdevents.classify(delivery(binary(type), JSON.stringify(body)));

describe("CDEvents provider", () => {
  it("accepts every delivery: CDEvents define no authentication and Flux checks none", () => {
    assert.deepEqual(cdevents.authenticate(delivery({}, "{}"), { token: "s3cr3t" }, new Date()), { ok: true });
    assert.deepEqual(cdevents.fluxTypes, ["cdevents"]);
  });

  it("normalises change.merged to the repository's HEAD (CDEvents do not name the branch)", () => {
    const type = "dev.cdevents.change.merged.0.2.0";
    assert.deepEqual(post(type, scm(type, "change")), { type: "changes", eventType: type, deliveryId: ID, changes: [{ kind: "git", git: { ...REPO, ref: "HEAD" }, deleted: false }] });
  });

  it("normalises branch.created and branch.deleted to refs/heads/<subject.id>", () => {
    const created = "dev.cdevents.branch.created.0.2.0";
    assert.deepEqual(post(created, scm(created, "branch", "feature-a")), {
      type: "changes",
      eventType: created,
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/feature-a", branch: "feature-a" }, deleted: false }],
    });
    const deleted = "dev.cdevents.branch.deleted.0.2.0";
    assert.deepEqual(post(deleted, scm(deleted, "branch", "feature-a")), {
      type: "changes",
      eventType: deleted,
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/feature-a", branch: "feature-a" }, deleted: true }],
    });
  });

  it("builds the URL from a bare-host source, as the spec's my-git.example, and ignores references that name no host", () => {
    const type = "dev.cdevents.change.merged.0.2.0";
    const bare = { ...scm(type, "change"), subject: { id: "1234", type: "change", content: { repository: { id: "an-org/a-repo", source: "my-git.example" } } } };
    assert.deepEqual(post(type, bare), {
      type: "changes",
      eventType: type,
      deliveryId: ID,
      changes: [{ kind: "git", git: { urls: ["https://my-git.example/an-org/a-repo"], key: "my-git.example/an-org/a-repo", ref: "HEAD" }, deleted: false }],
    });
    const noHost = { context: { ...context(type), source: "/event/source/123" }, subject: { id: "1234", type: "change", content: { repository: { id: "repo123" } } } };
    assert.deepEqual(post(type, noHost), { type: "ignored", eventType: type, deliveryId: ID, reason: 'repository "repo123" (source "") does not resolve to a repository URL' });
  });

  it("normalises artifact.published and artifact.packaged OCI purls to the image, tag and digest", () => {
    for (const type of ["dev.cdevents.artifact.published.0.1.0", "dev.cdevents.artifact.packaged.0.1.1"]) {
      const purl = `pkg:oci/myapp@${DIGEST.replace(":", "%3A")}?repository_url=mycr.io/myapp&tag=v1.2.3`;
      assert.deepEqual(post(type, artifact(type, purl)), {
        type: "changes",
        eventType: type,
        deliveryId: ID,
        changes: [{ kind: "oci", image: { repository: "mycr.io/myapp", key: "mycr.io/myapp", tag: "v1.2.3", digest: DIGEST }, deleted: false }],
      });
    }
    const type = "dev.cdevents.artifact.published.0.1.0";
    assert.deepEqual(post(type, artifact(type, "pkg:docker/library/nginx@1.27")), {
      type: "changes",
      eventType: type,
      deliveryId: ID,
      changes: [{ kind: "oci", image: { repository: "docker.io/library/nginx", key: "docker.io/library/nginx", tag: "1.27" }, deleted: false }],
    });
  });

  it("ignores artifacts that are not images, OCI purls without a registry, and other subjects", () => {
    const type = "dev.cdevents.artifact.published.0.1.0";
    assert.deepEqual(post(type, artifact(type, "pkg:golang/mygit.com/myorg/myapp@234fd47e07d1004f0aed9c")), {
      type: "ignored",
      eventType: type,
      deliveryId: ID,
      reason: "artifact pkg:golang/mygit.com/myorg/myapp@234fd47e07d1004f0aed9c is a golang package, not a container image",
    });
    assert.deepEqual(post(type, artifact(type, "pkg:oci/hello-wasm@sha256%3A244fd47e07d10?tag=v1")), {
      type: "ignored",
      eventType: type,
      deliveryId: ID,
      reason: "artifact pkg:oci/hello-wasm@sha256%3A244fd47e07d10?tag=v1 has no repository_url qualifier: the registry is unknown",
    });
    const run = "dev.cdevents.pipelinerun.finished.0.1.1";
    assert.deepEqual(post(run, { context: context(run), subject: { id: "run-1", type: "pipelineRun", content: { outcome: "success" } } }), {
      type: "ignored",
      eventType: run,
      deliveryId: ID,
      reason: "CDEvent dev.cdevents.pipelinerun.finished.0.1.1 does not change a source",
    });
  });

  it("reads a bare CDEvent body (no ce-* headers) and a structured CloudEvent", () => {
    const type = "dev.cdevents.change.merged.0.2.0";
    const expected = { type: "changes", eventType: type, deliveryId: ID, changes: [{ kind: "git", git: { ...REPO, ref: "HEAD" }, deleted: false }] };
    assert.deepEqual(cdevents.classify(delivery({ "content-type": "application/json" }, JSON.stringify(scm(type, "change")))), expected);
    const structured = JSON.stringify({ specversion: "1.0", id: "271069a8-fc18-44f1-b38f-9d70a1695819", source: "/event/source/123", type, data: scm(type, "change") });
    assert.deepEqual(cdevents.classify(delivery({ "content-type": "application/cloudevents+json" }, structured)), expected);
  });

  it("reports the ce-type header as the event type (Flux filters on it) and reads the body's context.type", () => {
    const merged = "dev.cdevents.change.merged.0.2.0";
    const headers = { "content-type": "application/json", "ce-type": "dev.cdevents.change.merged.0.1.2" };
    assert.deepEqual(cdevents.classify(delivery(headers, JSON.stringify(scm(merged, "change")))), {
      type: "changes",
      eventType: "dev.cdevents.change.merged.0.1.2",
      deliveryId: ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "HEAD" }, deleted: false }],
    });
  });

  it("answers 400 naming the field for a body that is not a CDEvent or an unparseable purl", () => {
    const type = "dev.cdevents.change.merged.0.2.0";
    const { timestamp: _, ...noTimestamp } = context(type);
    assert.throws(() => post(type, { context: noTimestamp, subject: { id: "1", content: {} } }), { name: "RequestError", status: 400, message: "CDEvent payload: context.timestamp: Invalid input: expected string, received undefined" });
    assert.throws(() => post(type, { context: context("dev.cdevents.change"), subject: { id: "1", content: {} } }), { status: 400, message: "CDEvent payload: context.type: is not dev.cdevents.<subject>.<predicate>.<version>" });
    const published = "dev.cdevents.artifact.published.0.1.0";
    assert.throws(() => post(published, artifact(published, "myapp:1.0")), { status: 400, reason: "MalformedPayload" });
    assert.throws(() => cdevents.classify(delivery({ "content-type": "application/json" }, "{}")), { status: 400, message: "CDEvent payload: context: Invalid input: expected object, received undefined" });
  });
});
