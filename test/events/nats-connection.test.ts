/**
 * connectBus against a real nats-server: it reports connected, lost and regained connections to readiness, waits
 * for a NATS that comes up late, and never lets a credential into a status reason or an error.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connectBus, type BusConnection } from "../../src/events/nats-connection.ts";
import { startNats, type NatsServer } from "../support/nats.ts";

/** Short waits keep reconnect tests fast; production uses the 2 s default. */
const FAST = { reconnectWaitMs: 50 };

/** Collects onStatus calls; `until` waits for the first call (from `from` on) that matches. */
function statusRecorder() {
  const calls: Array<[boolean, string]> = [];
  return {
    calls,
    onStatus: (connected: boolean, reason: string) => void calls.push([connected, reason]),
    async until(connected: boolean, from = 0, timeoutMs = 5000): Promise<[boolean, string]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = calls.slice(from).find(([c]) => c === connected);
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) assert.fail(`no onStatus(${connected}) within ${timeoutMs} ms; calls: ${JSON.stringify(calls)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

describe("connectBus", () => {
  let server: NatsServer;
  let host: string;

  before(async () => {
    server = await startNats();
    host = `127.0.0.1:${server.port}`;
  });
  after(() => server?.stop());

  it("reports connecting, then connected once the first connection is up", async () => {
    const status = statusRecorder();
    const bus = await connectBus({ servers: server.url, name: "fluxgate-test", onStatus: status.onStatus, ...FAST });
    try {
      assert.deepEqual(status.calls, [
        [false, `connecting to ${server.url}`],
        [true, `connected to ${host}`],
      ]);
      assert.equal(bus.connected(), true);
      assert.equal(bus.nc.info?.jetstream, true);
    } finally {
      await bus.close();
    }
  });

  it("reports the disconnect when NATS goes away and the reconnect when it is back on the same port and store", async () => {
    const status = statusRecorder();
    const bus = await connectBus({ servers: server.url, name: "fluxgate-test", onStatus: status.onStatus, ...FAST });
    try {
      const jsm = await jetstreamManager(bus.nc);
      await jsm.streams.add({ name: "SURVIVES", subjects: ["survives.>"], storage: StorageType.File });

      const seen = status.calls.length;
      await server.halt();
      assert.deepEqual(await status.until(false, seen), [false, `disconnected from ${host}`]);
      assert.equal(bus.connected(), false);

      const down = status.calls.length;
      await server.restart();
      assert.deepEqual(await status.until(true, down), [true, `reconnected to ${host}`]);
      assert.equal(bus.connected(), true);
      const ack = await jetstream(bus.nc).publish("survives.a", "after restart");
      assert.deepEqual({ stream: ack.stream, seq: ack.seq }, { stream: "SURVIVES", seq: 1 });
    } finally {
      await bus.close();
    }
  });

  it("waits for a NATS that comes up after Fluxgate started", async () => {
    await server.halt();
    const status = statusRecorder();
    const connecting = connectBus({ servers: server.url, name: "fluxgate-test", onStatus: status.onStatus, ...FAST });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(status.calls, [[false, `connecting to ${server.url}`]]);

    await server.restart();
    const bus = await connecting;
    try {
      assert.deepEqual(status.calls.at(-1), [true, `connected to ${host}`]);
      assert.equal(bus.connected(), true);
    } finally {
      await bus.close();
    }
  });

  it("stops waiting when the signal aborts, with reason BusAborted", async () => {
    await server.halt();
    try {
      const controller = new AbortController();
      const connecting = connectBus({ servers: server.url, name: "fluxgate-test", signal: controller.signal, ...FAST });
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(connecting, {
        name: "UnavailableError",
        reason: "BusAborted",
        message: `stopped waiting for NATS at ${server.url}`,
      });
    } finally {
      await server.restart();
    }
  });

  it("reports closed and not connected after close(), which is safe to call twice", async () => {
    const status = statusRecorder();
    const bus = await connectBus({ servers: server.url, name: "fluxgate-test", onStatus: status.onStatus, ...FAST });
    await bus.close();
    await bus.close();
    assert.deepEqual(status.calls.at(-1), [false, "closed"]);
    assert.equal(bus.connected(), false);
    assert.equal(bus.nc.isClosed(), true);
  });
});

describe("connectBus with credentials", () => {
  const token = "s3cret-token-0f9a";
  const password = "hunter2-password-77c1";
  let tokenServer: NatsServer;
  let userServer: NatsServer;

  before(async () => {
    [tokenServer, userServer] = await Promise.all([
      startNats({ jetstream: false, args: ["--auth", token] }),
      startNats({ jetstream: false, args: ["--user", "fluxgate", "--pass", password] }),
    ]);
  });
  after(() => Promise.all([tokenServer?.stop(), userServer?.stop()]));

  it("connects with the right token or user and password", async () => {
    const byToken = await connectBus({ servers: tokenServer.url, name: "fluxgate-test", token, ...FAST });
    const byPassword = await connectBus({ servers: userServer.url, name: "fluxgate-test", user: "fluxgate", pass: password, ...FAST });
    assert.deepEqual([byToken.connected(), byPassword.connected()], [true, true]);
    await Promise.all([byToken.close(), byPassword.close()]);
  });

  it("fails with reason BusAuthFailed when the server rejects the token, and the error does not contain it", async () => {
    const wrong = "wrong-token-5e21";
    const status = statusRecorder();
    await assert.rejects(connectBus({ servers: tokenServer.url, name: "fluxgate-test", token: wrong, onStatus: status.onStatus, ...FAST }), {
      name: "UnavailableError",
      reason: "BusAuthFailed",
      message: `cannot connect to NATS at ${tokenServer.url}: Authorization Violation`,
    });
    assert.deepEqual(status.calls, [[false, `connecting to ${tokenServer.url}`]]);
  });

  it("keeps a password and URL credentials out of errors and status reasons", async () => {
    const status = statusRecorder();
    const servers = `nats://fluxgate:${password}@127.0.0.1:${userServer.port}`;
    const error = await connectBus({ servers, name: "fluxgate-test", user: "fluxgate", pass: "not-the-password", onStatus: status.onStatus, ...FAST }).then(
      () => assert.fail("connected with a wrong password"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof Error);
    const everything = JSON.stringify({ message: error.message, stack: error.stack, cause: String(error.cause), calls: status.calls });
    assert.equal(everything.includes(password), false, everything);
    assert.equal(everything.includes("not-the-password"), false, everything);
    assert.deepEqual(status.calls, [[false, `connecting to nats://***@127.0.0.1:${userServer.port}`]]);
  });
});
