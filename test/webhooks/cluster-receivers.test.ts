import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { webhookPath } from "../../src/webhooks/receiver-index.ts";
import type { MemoryBus } from "../../src/events/memory-bus.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { localConfig } from "../support/local-config.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";
import { fixture, hmacHex } from "../support/webhook-fixtures.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Writes an object through the emulator's REST API as kubectl would. */
async function put(kube: KubeEmulator, path: string, object: Record<string, unknown>, method = "POST"): Promise<void> {
  const r = await fetch(`${kube.url}${path}`, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(object) });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${await r.text()}`);
}

describe("Flux Receiver objects from the cluster", () => {
  let kube: KubeEmulator;
  let dir: string;
  let server: RunningServer;
  let base: string;
  const receiver = (suspend = false) => ({
    apiVersion: "notification.toolkit.fluxcd.io/v1",
    kind: "Receiver",
    metadata: { name: "github-receiver", namespace: "flux-system" },
    spec: { type: "github", events: ["ping", "push"], secretRef: { name: "webhook-token" }, resources: [{ kind: "GitRepository", name: "webapp" }], suspend },
  });
  const secret = (token: string) => ({ apiVersion: "v1", kind: "Secret", metadata: { name: "webhook-token", namespace: "flux-system" }, type: "Opaque", data: { token: b64(token) } });
  const push = (token: string, path: string, delivery: string) => {
    const json = JSON.parse(new TextDecoder().decode(fixture("github/push-payload.json"))) as Record<string, unknown>;
    const body = new TextEncoder().encode(JSON.stringify({ ...json, ref: "refs/heads/main", deleted: false, after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246" }));
    return fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": delivery, "x-hub-signature-256": `sha256=${hmacHex("sha256", token, body)}` },
      body,
    });
  };

  before(async () => {
    kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
    await put(kube, "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-system" } });
    await put(kube, "/api/v1/namespaces/flux-system/secrets", secret("s3cr3t"));
    await put(kube, "/apis/notification.toolkit.fluxcd.io/v1/namespaces/flux-system/receivers", receiver());
    dir = await mkdtemp(join(tmpdir(), "fluxgate-cluster-receivers-"));
    const config = localConfig(dir, ["roles: [receiver]", "kube:", `  kubeconfig: ${await kube.kubeconfigPath()}`]);
    server = await startServer(config, { log: quietLogger(), baseDir: dir });
    base = server.listeners.receiver?.url ?? "";
    await until(() => server.readiness.ready, { timeoutMs: 10_000, what: "cluster receivers synced" });
  });
  after(async () => {
    await server?.shutdown();
    await kube?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves a Receiver at notification-controller's path and publishes its authentic deliveries", async () => {
    const path = webhookPath("s3cr3t", "github-receiver", "flux-system");
    assert.equal(path, "/hook/605dbd4976c3504a20afec155a68122702621389b3b29f71feb118008a1696a1");
    const r = await push("s3cr3t", path, "c-1");
    assert.equal(r.status, 202);
    const stored = (server.bus() as MemoryBus).messages("FLUXGATE_EVENTS").map((m) => JSON.parse(new TextDecoder().decode(m.data)) as { receiver: unknown; id: string });
    assert.deepEqual(stored.map((e) => [e.id, e.receiver]), [["github/flux-system/github-receiver/c-1", { namespace: "flux-system", name: "github-receiver" }]]);
    assert.equal((await push("wrong", path, "c-2")).status, 403);
  });

  it("answers 503 while the Receiver is suspended, like notification-controller", async () => {
    const path = webhookPath("s3cr3t", "github-receiver", "flux-system");
    // A merge patch is what `flux suspend receiver` sends.
    const p = await fetch(`${kube.url}/apis/notification.toolkit.fluxcd.io/v1/namespaces/flux-system/receivers/github-receiver`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ spec: { suspend: true } }),
    });
    assert.equal(p.status, 200);
    await until(async () => (await push("s3cr3t", path, "c-3")).status === 503, { what: "suspension to apply" });
    await fetch(`${kube.url}/apis/notification.toolkit.fluxcd.io/v1/namespaces/flux-system/receivers/github-receiver`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ spec: { suspend: false } }),
    });
    await until(async () => (await push("s3cr3t", path, "c-4")).status === 202, { what: "resumption" });
  });

  it("stops serving a deleted Receiver's path", async () => {
    const path = webhookPath("s3cr3t", "github-receiver", "flux-system");
    const d = await fetch(`${kube.url}/apis/notification.toolkit.fluxcd.io/v1/namespaces/flux-system/receivers/github-receiver`, { method: "DELETE" });
    assert.equal(d.status, 200);
    await until(async () => (await push("s3cr3t", path, "c-5")).status === 404, { what: "the path to disappear" });
  });
});
