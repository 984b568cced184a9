/**
 * Fuzzing every registered provider and the receiver route: mutated real payloads and random header sets must
 * only ever give the answers the receiver promises (a classification or a 400 RequestError; through the route,
 * 200/202/400/401/403/404/413/503), never an exception of another kind or an unhandled rejection.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { changeEvent } from "../../src/events/change-event.ts";
import { createMemoryBus } from "../../src/events/memory-bus.ts";
import { RequestError } from "../../src/errors.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import type { Classified } from "../../src/webhooks/provider.ts";
import { PROVIDERS } from "../../src/webhooks/providers/index.ts";
import { buildReceiverIndex } from "../../src/webhooks/receiver-index.ts";
import { receiverApp } from "../../src/webhooks/receiver-route.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { WEBHOOK_FIXTURES, delivery, fixture } from "../support/webhook-fixtures.ts";
import { prng } from "../support/prng.ts";
import type { Rng } from "../support/prng.ts";

const RUNS = Number(process.env.FLUXGATE_FUZZ_RUNS ?? "10000");


/** Every JSON fixture, as seeds for every provider (a provider must cope with another's payload too). */
const SEEDS: Uint8Array[] = readdirSync(WEBHOOK_FIXTURES, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(".json"))
  .map((f) => fixture(f));

const EVENT_HEADERS: Record<string, string[]> = {
  "x-github-event": ["push", "create", "ping", "package", "registry_package", "pull_request", "release"],
  "x-gitlab-event": ["Push Hook", "Tag Push Hook", "System Hook", "Merge Request Hook"],
  "x-event-key": ["repo:push", "repo:refs_changed", "diagnostics:ping", "pr:opened"],
  "x-gitea-event": ["push", "create", "delete"],
  "x-forgejo-event": ["push", "create"],
  "x-gogs-event": ["push", "create"],
  "x-nexus-webhook-id": ["rm:repository:component", "rm:repository:asset"],
  "ce-type": ["dev.cdevents.artifact.published.0.1.1", "dev.cdevents.change.merged.0.1.2", "harbor.artifact.pushed", "com.example.x"],
  "ce-specversion": ["1.0", "0.3"],
  "ce-id": ["1", ""],
  "ce-source": ["/x", ""],
  "content-type": ["application/json", "application/x-www-form-urlencoded", "application/cloudevents+json", "application/cloudevents-batch+json", "text/plain", ""],
  authorization: ["Basic dXNlcjpwYXNz", "Bearer a.b.c", "token", ""],
  "x-hub-signature-256": ["sha256=00", "sha256=", "md5=1"],
  "x-signature": ["sha256=00", "sha1=zz"],
};

/** Mutates JSON structurally or bytes randomly. */
function mutate(rng: Rng, seed: Uint8Array): Uint8Array {
  const mode = rng.int(6);
  if (mode === 0) return seed.slice(0, rng.int(seed.length + 1));
  if (mode === 1) {
    const copy = new Uint8Array(seed);
    for (let i = 0; i < 1 + rng.int(8); i++) copy[rng.int(copy.length)] = rng.int(256);
    return copy;
  }
  if (mode === 2) return new Uint8Array(Array.from({ length: rng.int(64) }, () => rng.int(256)));
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(seed));
  } catch {
    return seed;
  }
  const weird = [null, 0, -1, 1e308, "", "x".repeat(1000), [], {}, true, "0000000000000000000000000000000000000000", "refs/heads/", "::::", "ssh://", "sha256:zz"];
  const walk = (v: unknown, depth: number): unknown => {
    if (rng.next() < 0.08) return rng.pick(weird);
    if (Array.isArray(v)) return depth > 6 ? [] : v.map((x) => walk(x, depth + 1));
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (rng.next() > 0.05) out[k] = walk(x, depth + 1);
      return out;
    }
    return v;
  };
  return new TextEncoder().encode(JSON.stringify(walk(json, 0)));
}

function randomHeaders(rng: Rng): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [name, values] of Object.entries(EVENT_HEADERS)) if (rng.next() < 0.4) h[name] = rng.pick(values);
  return h;
}

function checkClassified(c: Classified, provider: string): void {
  assert.ok(["changes", "ping", "ignored"].includes(c.type), `${provider}: classification ${JSON.stringify(c)}`);
  if (c.type !== "changes") return;
  for (const draft of c.changes) {
    const r = changeEvent.safeParse({ id: "x", provider, receiver: { namespace: "n", name: "r" }, eventType: c.eventType || "x", ...draft, receivedAt: new Date().toISOString() });
    assert.ok(r.success, `${provider}: change ${JSON.stringify(draft)} is not a valid ChangeEvent: ${r.success ? "" : r.error.message}`);
  }
}

describe("fuzzing providers", () => {
  for (const provider of PROVIDERS) {
    it(`${provider.name}: ${RUNS} mutated deliveries give a classification or a 400, never a crash`, async () => {
      const rng = prng(0x5eed ^ provider.name.length * 7919);
      const secret = { token: "t", username: "user", password: "pass", audience: "a", email: "e@x", jwks: '{"keys":[]}' };
      for (let i = 0; i < RUNS; i++) {
        const d = delivery(randomHeaders(rng), mutate(rng, rng.pick(SEEDS)));
        const auth = await provider.authenticate(d, secret, new Date());
        assert.ok(auth.ok || auth.status === 401 || auth.status === 403, `${provider.name}: auth answer ${JSON.stringify(auth)}`);
        try {
          checkClassified(provider.classify(d), provider.name);
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
          assert.ok(e instanceof RequestError && e.status === 400, `${provider.name} run ${i}: threw ${String(e)} for headers ${JSON.stringify(Object.fromEntries(d.headers))}`);
        }
      }
    });
  }
});

describe("fuzzing the receiver route", () => {
  it("answers only the documented statuses to random requests on real receiver paths", async () => {
    const rng = prng(42);
    const types = [...new Set(PROVIDERS.map((p) => p.name))];
    const index = await buildReceiverIndex(
      types.map((t) => ({ name: `r-${t}`, namespace: "flux-system", type: t, secret: { env: "FUZZ_TOKEN" }, events: [], refs: [], deletions: rng.next() < 0.5, suspend: false })),
      { file: "fuzz", env: { FUZZ_TOKEN: "t" }, baseDir: "/" },
    ).catch(() => ({ byPath: new Map(), all: [] }));
    const app = receiverApp({ log: quietLogger(), registry: createMetrics().registry, bus: () => createMemoryBus(), receivers: () => index, bodyLimit: () => 64 * 1024 });
    const paths = [...index.byPath.keys(), "/hook/nothing", "/hook/"];
    const allowed = new Set([200, 202, 400, 401, 403, 404, 413, 503]);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      for (let i = 0; i < Math.min(RUNS, 3000); i++) {
        const body = rng.next() < 0.02 ? new Uint8Array(70 * 1024) : mutate(rng, rng.pick(SEEDS));
        const method = rng.pick(["POST", "PUT", "GET"]);
        const withBody = method !== "GET" && rng.next() > 0.05;
        const r = await app.handle(new Request(`http://127.0.0.1${rng.pick(paths)}`, { method, headers: randomHeaders(rng), body: withBody ? new Uint8Array(body) : null }));
        assert.ok(allowed.has(r.status), `run ${i}: status ${r.status}: ${await r.text()}`);
        await r.arrayBuffer().catch(() => {});
      }
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    assert.deepEqual(unhandled, []);
  });
});
