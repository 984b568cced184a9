/**
 * The NATS harness, and the JetStream behaviour Fluxgate's design leans on (design.md, "JetStream layout"),
 * shown against the real server: deduplication by message id, durable pull consumers, one message per subject.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as tcpConnect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { AckPolicy, DiscardPolicy, jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { findNatsServer, startNats, type NatsServer } from "./nats.ts";

const TEN_MINUTES_NS = nanos(10 * 60 * 1000);

/** Resolves "connected" or the connect error's code, e.g. "ECONNREFUSED". */
function tryTcp(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe("startNats", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  before(async () => {
    server = await startNats();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("serves on 127.0.0.1 at a free port, with a store directory of its own under the temp dir", () => {
    assert.equal(server.url, `nats://127.0.0.1:${server.port}`);
    assert.ok(server.port > 0 && server.port < 65536);
    assert.ok(server.storeDir.startsWith(tmpdir()), server.storeDir);
    assert.equal(existsSync(server.storeDir), true);
    assert.equal(nc.getServer(), `127.0.0.1:${server.port}`);
  });

  it("drops a publish whose msgID was seen within the stream's duplicate_window", async () => {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({
      name: "EVENTS",
      subjects: ["fluxgate.events.>"],
      storage: StorageType.File,
      duplicate_window: TEN_MINUTES_NS,
    });

    const first = await js.publish("fluxgate.events.github", "push 1", { msgID: "delivery-1" });
    const redelivered = await js.publish("fluxgate.events.github", "push 1 again", { msgID: "delivery-1" });
    const second = await js.publish("fluxgate.events.github", "push 2", { msgID: "delivery-2" });

    assert.deepEqual([first, redelivered, second].map(({ stream, seq, duplicate }) => ({ stream, seq, duplicate })), [
      { stream: "EVENTS", seq: 1, duplicate: false },
      { stream: "EVENTS", seq: 1, duplicate: true },
      { stream: "EVENTS", seq: 2, duplicate: false },
    ]);
    const info = await jsm.streams.info("EVENTS");
    assert.equal(info.config.duplicate_window, TEN_MINUTES_NS);
    assert.equal(info.config.storage, "file");
    assert.equal(info.state.messages, 2);
  });

  it("hands the oldest message to a durable pull consumer and records the ack", async () => {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.consumers.add("EVENTS", { durable_name: "router", ack_policy: AckPolicy.Explicit });

    const consumer = await js.consumers.get("EVENTS", "router");
    const msg = await consumer.next({ expires: 2000 });
    assert.ok(msg !== null, "a message is pending");
    assert.equal(msg.subject, "fluxgate.events.github");
    assert.equal(msg.string(), "push 1");
    assert.equal(msg.headers?.get("Nats-Msg-Id"), "delivery-1");
    assert.equal(msg.seq, 1);
    assert.equal(msg.redelivered, false);
    assert.equal(await msg.ackAck(), true);

    const info = await consumer.info();
    assert.equal(info.ack_floor.stream_seq, 1);
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_pending, 1);
  });

  it("keeps only the newest message per subject in a stream with max_msgs_per_subject: 1", async () => {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({
      name: "TRIGGERS",
      subjects: ["fluxgate.triggers.>"],
      storage: StorageType.File,
      max_msgs_per_subject: 1,
      discard: DiscardPolicy.Old,
    });
    const web = "fluxgate.triggers.apps.Kustomization.web";
    for (const body of ["event 1", "event 2", "event 3"]) await js.publish(web, body);
    await js.publish("fluxgate.triggers.apps.Kustomization.api", "event 4");

    const { state } = await jsm.streams.info("TRIGGERS");
    assert.deepEqual({ messages: state.messages, first_seq: state.first_seq, last_seq: state.last_seq }, { messages: 2, first_seq: 3, last_seq: 4 });
    const last = await jsm.streams.getMessage("TRIGGERS", { last_by_subj: web });
    assert.equal(last?.seq, 3);
    assert.equal(last?.string(), "event 3");
  });
});

describe("NatsServer.halt and restart", () => {
  let server: NatsServer;

  before(async () => {
    server = await startNats();
  });
  after(() => server?.stop());

  it("brings the server back on the same port with the same store, so streams and consumer positions survive", async () => {
    const before = await connect({ servers: server.url });
    const jsm = await jetstreamManager(before);
    await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"], storage: StorageType.File });
    await jsm.consumers.add("KEEP", { durable_name: "worker", ack_policy: AckPolicy.Explicit });
    await jetstream(before).publish("keep.a", "one");
    await jetstream(before).publish("keep.a", "two");
    const one = await jetstream(before).consumers.get("KEEP", "worker").then((c) => c.next({ expires: 2000 }));
    assert.equal(await one?.ackAck(), true);
    await before.close();

    await server.halt();
    assert.equal(await tryTcp(server.port), "ECONNREFUSED");
    await server.restart();

    const after = await connect({ servers: server.url });
    try {
      const next = await jetstream(after).consumers.get("KEEP", "worker").then((c) => c.next({ expires: 2000 }));
      assert.equal(next?.string(), "two");
      assert.equal(next?.seq, 2);
      await next?.ackAck();
    } finally {
      await after.close();
    }
  });

  it("fails restart() with reason NatsPortInUse when something else took the port meanwhile", async () => {
    await server.halt();
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(server.port, "127.0.0.1", resolve));
    try {
      await assert.rejects(server.restart(), {
        name: "UnavailableError",
        reason: "NatsPortInUse",
        message: `nats-server could not listen on 127.0.0.1:${server.port}: address already in use`,
      });
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    await server.restart();
    assert.equal(await tryTcp(server.port), "connected");
  });
});

describe("NatsServer.stop", () => {
  it("ends the process, frees the port and removes the store dir, and is safe to call twice", async () => {
    const server = await startNats();
    assert.equal(await tryTcp(server.port), "connected");

    await server.stop();
    await server.stop();

    assert.equal(existsSync(server.storeDir), false);
    assert.equal(await tryTcp(server.port), "ECONNREFUSED");
    await assert.rejects(server.restart(), { message: `nats-server on port ${server.port} was stopped; start a new one` });
  });

  it("stops at the end of an `await using` scope", async () => {
    let port = 0;
    let storeDir = "";
    {
      await using server = await startNats();
      ({ port, storeDir } = server);
      assert.equal(await tryTcp(port), "connected");
    }
    assert.equal(await tryTcp(port), "ECONNREFUSED");
    assert.equal(existsSync(storeDir), false);
  });
});

describe("startNats options and failures", () => {
  it("starts without JetStream when asked, so JetStream calls fail as on a plain NATS", async () => {
    const server = await startNats({ jetstream: false });
    const nc = await connect({ servers: server.url });
    try {
      await assert.rejects(jetstreamManager(nc), { name: "JetStreamNotEnabled", message: "jetstream is not enabled" });
    } finally {
      await nc.close();
      await server.stop();
    }
  });

  it("reports a server that exits at startup together with its output", async () => {
    await assert.rejects(startNats({ args: ["--no-such-flag"] }), (e: Error) => {
      assert.equal(e.name, "UnavailableError");
      assert.match(e.message, /^nats-server exited with code \d+; its output:\nflag provided but not defined: -no-such-flag/);
      return true;
    });
  });

  it("finds the binary through NATS_SERVER_BIN first, then PATH", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-bin-"));
    try {
      const onPath = join(dir, "nats-server");
      await writeFile(onPath, "#!/bin/sh\n", { mode: 0o755 });
      const installed = findNatsServer();
      assert.equal(findNatsServer({ NATS_SERVER_BIN: installed, PATH: dir }), installed);
      assert.equal(findNatsServer({ PATH: `/nonexistent${delimiter}${dir}` }), onPath);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("falls back to /usr/sbin/nats-server, where Debian puts it off most users' PATH", { skip: !existsSync("/usr/sbin/nats-server") }, () => {
    assert.equal(findNatsServer({ PATH: "/nonexistent" }), "/usr/sbin/nats-server");
  });

  it("refuses a NATS_SERVER_BIN that is not executable and says how to install nats-server", () => {
    assert.throws(() => findNatsServer({ NATS_SERVER_BIN: "/nonexistent/nats-server" }), {
      name: "UnavailableError",
      reason: "NatsServerMissing",
      message: "NATS_SERVER_BIN=/nonexistent/nats-server is not an executable file; install nats-server: apt-get install nats-server",
    });
  });
});
