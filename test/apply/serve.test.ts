/**
 * The worker inside `fluxgate serve` (embedded mode: in-process bus): a signed GitHub push to a cluster Receiver's
 * path reaches the GitRepository it concerns as a reconcile request, and /readyz waits for the inventory.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REQUESTED_FOR } from "../../src/apply/reconcile-state.ts";
import { fluxKind } from "../../src/flux/kinds.ts";
import { REQUESTED_AT } from "../../src/kube/reconcile-request.ts";
import type { ResourceType } from "../../src/kube/resource.ts";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { webhookPath } from "../../src/webhooks/receiver-index.ts";
import { localConfig } from "../support/local-config.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";
import { fixture, hmacHex } from "../support/webhook-fixtures.ts";
import { gitRepository, receiver } from "./flux-objects.ts";
import { startCluster } from "./worker-harness.ts";
import type { Cluster } from "./worker-harness.ts";

/** These tests wait for real timers and processes; Bun's default of 5 s per test is too tight on a busy machine. */
const LONG = { timeout: 30_000 };
const SECRETS: ResourceType = { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true };

describe("the worker role of fluxgate serve", () => {
  let cluster: Cluster;
  let dir: string;
  let server: RunningServer;

  before(async () => {
    cluster = await startCluster();
    const kube = cluster.client();
    await kube.create({ group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false }, { apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-system" } });
    await kube.create(SECRETS, { apiVersion: "v1", kind: "Secret", metadata: { name: "token", namespace: "flux-system" }, data: { token: Buffer.from("s3cr3t").toString("base64") } });
    await cluster.create(
      gitRepository("flux-system", "hello", "https://github.com/Codertocat/Hello-World", { branch: "main" }),
      gitRepository("flux-system", "other", "https://github.com/Codertocat/other", { branch: "main" }),
      receiver("flux-system", "github-receiver", [{ kind: "GitRepository", name: "*", matchLabels: {} }], true),
    );
    dir = await mkdtemp(join(tmpdir(), "fluxgate-worker-serve-"));
    server = await startServer(localConfig(dir, ["roles: [receiver, worker]", "kube:", `  kubeconfig: ${cluster.kubeconfig}`]), { log: quietLogger(), baseDir: dir });
  });
  after(async () => {
    await server?.shutdown();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("is ready once the inventory is synced, and turns a signed push into a reconcile request of the matching GitRepository only", LONG, async () => {
    await until(() => server.readiness.ready, { timeoutMs: 10_000, what: "ready" });
    assert.match(server.readiness.checks().find((c) => c.name === "inventory")?.reason ?? "", /^\d+ Flux object\(s\) in 6 kind\(s\)$/);
    const json = JSON.parse(new TextDecoder().decode(fixture("github/push-payload.json"))) as Record<string, unknown>;
    const body = new TextEncoder().encode(JSON.stringify({ ...json, ref: "refs/heads/main", deleted: false, after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246" }));
    const r = await fetch(`${server.listeners.receiver?.url}${webhookPath("s3cr3t", "github-receiver", "flux-system")}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": "serve-1", "x-hub-signature-256": `sha256=${hmacHex("sha256", "s3cr3t", body)}` },
      body,
    });
    assert.equal(r.status, 202);
    await until(() => cluster.patches("flux-system").length === 1, { what: "the reconcile request" });
    const annotations = (await cluster.client().get(fluxKind("GitRepository"), "flux-system", "hello")).metadata.annotations ?? {};
    assert.match(annotations[REQUESTED_FOR] ?? "", new RegExp(`^${annotations[REQUESTED_AT]?.replace(/\./g, "\\.")} \\S+$`));
    assert.deepEqual(cluster.patches("flux-system").map((p) => p.name), ["hello"]);
  });
});
