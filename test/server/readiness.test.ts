import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readiness } from "../../src/server/readiness.ts";
import { startServer } from "../../src/server/start.ts";
import { localConfig } from "../support/local-config.ts";
import { startNats } from "../support/nats.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";


describe("readiness", () => {
  it("is ready only while every registered check is, and never once shutting down", () => {
    const r = new Readiness();
    assert.equal(r.ready, true, "nothing to wait for");
    r.register("tls");
    r.register("bus", "connecting");
    assert.equal(r.ready, false);
    r.set("tls", true);
    assert.equal(r.ready, false);
    r.set("bus", true, "connected to 127.0.0.1:4222");
    assert.equal(r.ready, true);
    r.register("tls", "registering again does not reset a check");
    assert.equal(r.ready, true);
    assert.deepEqual(r.checks().map((c) => [c.name, c.ready, c.reason]), [["bus", true, "connected to 127.0.0.1:4222"], ["tls", true, "ok"]]);
    r.shutdown();
    assert.equal(r.ready, false);
  });

  it("in the embedded mode: every role, the in-process bus and the generated certificate make it ready", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-ready-"));
    const config = localConfig(dir, ["tls: {dir: certs}"]);
    const server = await startServer(config, { log: quietLogger(), baseDir: dir });
    try {
      const health = server.listeners.health?.url ?? "";
      const r = await fetch(`${health}/readyz?verbose`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "[+]bus ok\n[+]tls ok\nreadyz check passed\n");
      assert.deepEqual(Object.keys(server.listeners).sort(), ["admission", "health", "metrics", "receiver"]);
    } finally {
      await server.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("follows the NATS connection: not ready before NATS is up, ready when connected, not ready while it is down", async () => {
    const nats = await startNats();
    await nats.halt(); // the port is known but nothing answers yet
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-ready-"));
    const config = localConfig(dir, ["roles: [receiver, worker]", "bus:", `  url: ${nats.url}`]);
    const server = await startServer(config, { log: quietLogger(), baseDir: dir });
    const readyz = async () => {
      const r = await fetch(`${server.listeners.health?.url ?? ""}/readyz`);
      return { status: r.status, body: await r.text() };
    };
    try {
      assert.equal(server.listeners.receiver !== undefined, true, "the receiver listens while the bus is not there yet");
      const before = await readyz();
      assert.equal(before.status, 503);
      assert.match(before.body, /^\[-\]bus failed: connecting to nats:\/\/127\.0\.0\.1:\d+\nreadyz check failed\n$/);

      await nats.restart();
      await until(async () => (await readyz()).status === 200, { timeoutMs: 10_000, what: "ready after NATS started" });

      await nats.halt();
      await until(async () => (await readyz()).status === 503, { timeoutMs: 10_000, what: "not ready after NATS stopped" });
      assert.match((await readyz()).body, /\[-\]bus failed: disconnected/);

      await nats.restart();
      await until(async () => (await readyz()).status === 200, { timeoutMs: 10_000, what: "ready after NATS came back" });
    } finally {
      await server.shutdown();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal(server.readiness.ready, false);
  });

  it("shuts down promptly while still waiting for a NATS that never comes", async () => {
    const nats = await startNats();
    await nats.halt();
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-ready-"));
    const config = localConfig(dir, ["roles: [worker]", "bus:", `  url: ${nats.url}`]);
    const server = await startServer(config, { log: quietLogger(), baseDir: dir });
    try {
      const started = Date.now();
      await server.shutdown();
      assert.ok(Date.now() - started < 4000, `shutdown took ${Date.now() - started} ms`);
    } finally {
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
