import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { MemoryBus } from "../../src/events/memory-bus.ts";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { webhookPath } from "../../src/webhooks/receiver-index.ts";
import { localConfig } from "../support/local-config.ts";
import { startNats } from "../support/nats.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";
import { fixture, flipByte, hmacHex } from "../support/webhook-fixtures.ts";

const TOKEN = "s3cr3t";
const PATH = webhookPath(TOKEN, "github-receiver", "flux-system");

/** The push fixture turned into a branch push of `ref` at `sha`. */
function branchPush(ref = "refs/heads/main", sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"): Uint8Array<ArrayBuffer> {
  const json = JSON.parse(new TextDecoder().decode(fixture("github/push-payload.json"))) as Record<string, unknown>;
  return new TextEncoder().encode(JSON.stringify({ ...json, ref, deleted: false, after: sha }));
}

function githubHeaders(event: string, body: Uint8Array, delivery: string, token = TOKEN): Record<string, string> {
  return { "content-type": "application/json", "x-github-event": event, "x-github-delivery": delivery, "x-hub-signature-256": `sha256=${hmacHex("sha256", token, body)}` };
}

describe("receiver route", () => {
  it("serves Flux's documented path for token s3cr3t, github-receiver, flux-system", () => {
    assert.equal(PATH, "/hook/605dbd4976c3504a20afec155a68122702621389b3b29f71feb118008a1696a1");
  });

  describe("in the embedded mode (in-process bus)", () => {
    let dir: string;
    let server: RunningServer;
    let base: string;
    const post = async (body: Uint8Array<ArrayBuffer>, headers: Record<string, string>, path = PATH) => {
      const r = await fetch(`${base}${path}`, { method: "POST", headers, body });
      return { status: r.status, retryAfter: r.headers.get("retry-after"), body: (await r.json()) as Record<string, unknown> };
    };
    const events = () => (server.bus() as MemoryBus).messages("FLUXGATE_EVENTS");

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "fluxgate-receiver-"));
      await writeFile(join(dir, "token"), `${TOKEN}\n`);
      const config = localConfig(dir, [
        "roles: [receiver]",
        "http: {bodyLimit: 256Ki}",
        "receivers:",
        "  - {name: github-receiver, type: github, secret: {file: token}, refs: [main, 'release/*', 'v*']}",
        "  - {name: frozen, type: github, secret: {file: token}, suspend: true}",
      ]);
      server = await startServer(config, { log: quietLogger(), baseDir: dir, now: () => new Date("2026-11-25T08:00:00.000Z") });
      base = server.listeners.receiver?.url ?? "";
    });
    after(async () => {
      await server?.shutdown();
      await rm(dir, { recursive: true, force: true });
    });

    it("publishes a signed push as one ChangeEvent and answers 202 with its id", async () => {
      const body = branchPush();
      const r = await post(body, githubHeaders("push", body, "d-1"));
      assert.equal(r.status, 202);
      assert.deepEqual(r.body, { result: "accepted", receiver: "flux-system/github-receiver", events: [{ id: "github/flux-system/github-receiver/d-1", duplicate: false, stream: "FLUXGATE_EVENTS", seq: 1 }] });
      const [stored] = events();
      assert.equal(stored?.subject, "fluxgate.events.github");
      assert.equal(stored?.msgId, "github/flux-system/github-receiver/d-1");
      assert.deepEqual(JSON.parse(new TextDecoder().decode(stored?.data)), {
        id: "github/flux-system/github-receiver/d-1",
        provider: "github",
        receiver: { namespace: "flux-system", name: "github-receiver" },
        deliveryId: "d-1",
        eventType: "push",
        kind: "git",
        git: {
          urls: ["https://github.com/Codertocat/Hello-World.git", "git@github.com:Codertocat/Hello-World.git", "git://github.com/Codertocat/Hello-World.git"],
          key: "github.com/codertocat/hello-world",
          ref: "refs/heads/main",
          branch: "main",
          commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        },
        deleted: false,
        receivedAt: "2026-11-25T08:00:00.000Z",
      });
    });

    it("stores a redelivered delivery once", async () => {
      const body = branchPush("refs/heads/release/1.2");
      const first = await post(body, githubHeaders("push", body, "d-2"));
      const again = await post(body, githubHeaders("push", body, "d-2"));
      assert.equal(first.status, 202);
      assert.equal(again.status, 202);
      assert.deepEqual((again.body.events as Array<{ duplicate: boolean }>)[0]?.duplicate, true);
      assert.equal(events().filter((m) => m.msgId === "github/flux-system/github-receiver/d-2").length, 1);
    });

    it("answers pings 200 and authentic deliveries it drops 200 with the reason, publishing nothing", async () => {
      const before = events().length;
      const ping = fixture("github/ping-payload.json");
      assert.deepEqual(await post(ping, githubHeaders("ping", ping, "p-1")), { status: 200, retryAfter: null, body: { result: "ping", receiver: "flux-system/github-receiver", reason: "GitHub ping: the hook reaches Fluxgate" } });
      const pr = fixture("github/pull_request-opened.payload.json");
      assert.equal((await post(pr, githubHeaders("pull_request", pr, "p-2"))).body.result, "ignored");
      const feature = branchPush("refs/heads/feature/x");
      assert.deepEqual((await post(feature, githubHeaders("push", feature, "p-3"))).body, {
        result: "ignored",
        receiver: "flux-system/github-receiver",
        reason: "ref refs/heads/feature/x does not match the receiver's refs",
      });
      const deletion = fixture("github/push-payload.json");
      assert.equal((await post(deletion, githubHeaders("push", deletion, "p-4"))).body.reason, "deletions are not published (set deletions: true on the receiver)");
      assert.equal(events().length, before);
    });

    it("rejects a bad signature 403, a missing one 401, a wrong token 403", async () => {
      const body = branchPush();
      const h = githubHeaders("push", body, "x-1");
      assert.equal((await post(flipByte(body), h)).status, 403);
      assert.equal((await post(body, githubHeaders("push", body, "x-1", "wrong"))).status, 403);
      const { "x-hub-signature-256": _, ...unsigned } = h;
      const r = await post(body, unsigned);
      assert.equal(r.status, 401);
      assert.equal(r.body.reason, "Unauthorized");
    });

    it("answers 404 for an unknown path, 503 for a suspended receiver, 400 for a malformed body, 413 past the limit", async () => {
      const body = branchPush();
      assert.equal((await post(body, githubHeaders("push", body, "y-1"), "/hook/0000")).status, 404);
      const suspended = await post(body, githubHeaders("push", body, "y-2"), webhookPath(TOKEN, "frozen", "flux-system"));
      assert.deepEqual([suspended.status, suspended.retryAfter, suspended.body.reason], [503, "60", "Suspended"]);
      const bad = new TextEncoder().encode('{"ref":"refs/heads/main"}');
      const malformed = await post(bad, githubHeaders("push", bad, "y-3"));
      assert.deepEqual([malformed.status, malformed.body.reason], [400, "MalformedPayload"]);
      const huge = new Uint8Array(300 * 1024);
      assert.equal((await post(huge, githubHeaders("push", huge, "y-4"))).status, 413);
    });
  });

  describe("with NATS JetStream", () => {
    it("answers 202 only after JetStream stored the event, 503 while NATS is down, and every 202 is in the stream", async () => {
      const nats = await startNats();
      const dir = await mkdtemp(join(tmpdir(), "fluxgate-receiver-js-"));
      await writeFile(join(dir, "token"), TOKEN);
      const config = localConfig(dir, ["roles: [receiver]", "bus:", `  url: ${nats.url}`, "receivers:", "  - {name: github-receiver, type: github, secret: {file: token}}"]);
      const server = await startServer(config, { log: quietLogger(), baseDir: dir });
      const base = server.listeners.receiver?.url ?? "";
      const accepted: string[] = [];
      const send = async (n: number) => {
        const body = branchPush("refs/heads/main", n.toString(16).padStart(40, "a"));
        const r = await fetch(`${base}${PATH}`, { method: "POST", headers: githubHeaders("push", body, `js-${n}`), body });
        if (r.status === 202) accepted.push(`github/flux-system/github-receiver/js-${n}`);
        return { status: r.status, retryAfter: r.headers.get("retry-after") };
      };
      try {
        await until(() => server.readiness.ready, { timeoutMs: 10_000, what: "bus ready" });
        assert.equal((await send(1)).status, 202);
        assert.equal((await send(1)).status, 202, "a redelivery is answered 202 but stored once");

        await nats.halt();
        await until(() => !server.readiness.ready, { timeoutMs: 10_000, what: "bus down" });
        assert.deepEqual(await send(2), { status: 503, retryAfter: "5" });

        await nats.restart();
        await until(() => server.readiness.ready, { timeoutMs: 10_000, what: "bus back" });
        assert.equal((await send(3)).status, 202);
        assert.equal((await send(2)).status, 202, "the delivery refused during the outage is accepted on retry");

        const nc = await connect({ servers: nats.url });
        try {
          const jsm = await jetstreamManager(nc);
          const info = await jsm.streams.info("FLUXGATE_EVENTS");
          assert.equal(info.state.messages, 3);
          const ids: string[] = [];
          for (let seq = 1; seq <= info.state.last_seq; seq++) {
            const m = await jsm.streams.getMessage("FLUXGATE_EVENTS", { seq });
            ids.push(m?.header?.get("Nats-Msg-Id") ?? "");
          }
          assert.deepEqual(ids.sort(), [...new Set(accepted)].sort());
        } finally {
          await nc.close();
        }
      } finally {
        await server.shutdown();
        await nats.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

describe("receiver type github", () => {
  it("hands each delivery to the provider that sent it: GitHub, Gitea, Forgejo or Gogs", async () => {
    const { providersFor } = await import("../../src/webhooks/receiver-index.ts");
    assert.deepEqual(providersFor("github").map((p) => p.name), ["github", "gitea", "forgejo", "gogs"]);
    assert.deepEqual(providersFor("bitbucket").map((p) => p.name), ["bitbucket-cloud", "bitbucket-server"]);
    assert.deepEqual(providersFor("gitea").map((p) => p.name), ["gitea"]);
  });
});

describe("CloudEvents webhook validation", () => {
  it("answers the OPTIONS handshake on a receiver's path with the origin allowed, and 404 elsewhere", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-receiver-ce-"));
    await writeFile(join(dir, "token"), TOKEN);
    const server = await startServer(localConfig(dir, ["roles: [receiver]", "receivers:", "  - {name: github-receiver, type: cloudevents, secret: {file: token}}"]), { log: quietLogger(), baseDir: dir });
    try {
      const base = server.listeners.receiver?.url ?? "";
      const r = await fetch(`${base}${PATH}`, { method: "OPTIONS", headers: { "webhook-request-origin": "eventemitter.example.com" } });
      assert.deepEqual([r.status, r.headers.get("webhook-allowed-origin"), r.headers.get("allow")], [200, "eventemitter.example.com", "POST, OPTIONS"]);
      assert.equal((await fetch(`${base}/hook/unknown`, { method: "OPTIONS", headers: { "webhook-request-origin": "x" } })).status, 404);
    } finally {
      await server.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
