/**
 * Durable consumers on both buses, the same specification run against the in-process bus and a real nats-server:
 * shared cursors, acks, delayed naks, redelivery, per-subject coalescing and hand-over on stop.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Bus, ConsumerSpec, Delivery } from "../../src/events/bus.ts";
import { failureDelayMs } from "../../src/events/dispatcher.ts";
import { createJetStreamBus, ensureStreams } from "../../src/events/jetstream-bus.ts";
import { createMemoryBus } from "../../src/events/memory-bus.ts";
import { startNats } from "../support/nats.ts";
import type { NatsServer } from "../support/nats.ts";
import { until } from "../support/until.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (d: Delivery) => new TextDecoder().decode(d.data);

type Harness = {
  /** A bus; with JetStream, each call opens its own connection (a separate process, as far as the server knows). */
  bus(): Promise<Bus>;
  /** Drops a bus's connection without a goodbye, as a killed process does (JetStream only). */
  crash?(bus: Bus): Promise<void>;
};

/** These tests wait for real timers and processes; Bun's default of 5 s per test is too tight on a busy machine. */
const LONG = { timeout: 30_000 };
let tests = 0;
/** A consumer of its own per test: its own durable and subjects, so tests never see each other's messages. */
const fresh = (ackWaitMs = 1000): { spec: ConsumerSpec; subject: (s: string) => string } => {
  const n = ++tests;
  return {
    spec: { stream: "FLUXGATE_TRIGGERS", durable: `test-${n}`, filterSubject: `fluxgate.triggers.t${n}.>`, ackWaitMs, maxDeliver: -1, maxAckPending: -1 },
    subject: (s) => `fluxgate.triggers.t${n}.${s}`,
  };
};

function consumerSuite(name: string, harness: () => Harness): void {
  describe(`durable consumers on the ${name} bus`, () => {
    it("hands each message to one of two consumptions sharing the durable, and never again once acked", LONG, async () => {
      const { spec, subject } = fresh();
      const h = harness();
      const [a, b] = [await h.bus(), await h.bus()];
      const seen: Array<[string, string, number]> = [];
      const handler = (who: string) => async (d: Delivery) => {
        seen.push([who, text(d), d.deliveries]);
        d.ack();
      };
      const ca = await a.consume(spec, handler("a"), { concurrency: 2 });
      const cb = await b.consume(spec, handler("b"), { concurrency: 2 });
      for (let i = 0; i < 20; i++) await a.publish(subject(`Kind.o${i}`), bytes(`m${i}`), `${spec.durable}-${i}`);
      await until(() => seen.length >= 20, { what: "20 deliveries" });
      await new Promise((r) => setTimeout(r, 300));
      await ca.stop();
      await cb.stop();
      assert.deepEqual(seen.map((s) => s[1]).sort(), Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
      assert.deepEqual(new Set(seen.map((s) => s[2])), new Set([1]));
    });

    it("delivers a message nak'ed with a delay again after that delay, counting the delivery", LONG, async () => {
      const { spec, subject } = fresh();
      const bus = await harness().bus();
      const times: Array<[number, number]> = [];
      const c = await bus.consume(spec, async (d) => {
        times.push([d.deliveries, performance.now()]);
        if (d.deliveries === 1) d.nak(700);
        else d.ack();
      });
      await bus.publish(subject("Kind.a"), bytes("x"), `${spec.durable}-1`);
      await until(() => times.length === 2, { what: "the redelivery" });
      await c.stop();
      const [[d1, t1], [d2, t2]] = times as [[number, number], [number, number]];
      assert.deepEqual([d1, d2], [1, 2]);
      assert.ok(t2 - t1 >= 650 && t2 - t1 < 2000, `redelivered after ${Math.round(t2 - t1)} ms`);
    });

    it("naks a delivery whose handler throws, with the first back-off, and reports the error", LONG, async () => {
      const { spec, subject } = fresh();
      const bus = await harness().bus();
      const errors: string[] = [];
      const deliveries: number[] = [];
      const c = await bus.consume(
        spec,
        async (d) => {
          deliveries.push(d.deliveries);
          if (d.deliveries === 1) throw new Error("boom");
          d.ack();
        },
        { onError: (e) => errors.push((e as Error).message) },
      );
      await bus.publish(subject("Kind.a"), bytes("x"), `${spec.durable}-1`);
      await until(() => deliveries.length === 2, { what: "the redelivery after the failure", timeoutMs: failureDelayMs(1) + 3000 });
      await c.stop();
      assert.deepEqual([deliveries, errors], [[1, 2], ["boom"]]);
    });

    it("keeps one message per trigger subject: a burst published before anyone consumes is delivered once, as its last message", LONG, async () => {
      const { spec, subject } = fresh();
      const bus = await harness().bus();
      for (let i = 0; i < 5; i++) await bus.publish(subject("GitRepository.app"), bytes(`t${i}`), `${spec.durable}-${i}`);
      await bus.publish(subject("GitRepository.other"), bytes("o"), `${spec.durable}-o`);
      const seen: string[] = [];
      const c = await bus.consume(spec, async (d) => {
        seen.push(text(d));
        d.ack();
      });
      await until(() => seen.length === 2, { what: "two deliveries" });
      await new Promise((r) => setTimeout(r, 200));
      await c.stop();
      assert.deepEqual(seen, ["t4", "o"]);
    });

    it("says a held message is no longer stored once a newer one on its subject replaced it, and delivers the newer one", LONG, async () => {
      const { spec, subject } = fresh();
      const bus = await harness().bus();
      const held: Delivery[] = [];
      const seen: string[] = [];
      const c = await bus.consume(
        spec,
        async (d) => {
          seen.push(text(d));
          if (text(d) === "first") held.push(d);
          else d.ack();
        },
        { concurrency: 2 },
      );
      await bus.publish(subject("Kind.a"), bytes("first"), `${spec.durable}-1`);
      await until(() => held.length === 1, { what: "the first delivery" });
      assert.equal(await held[0]?.stored(), true);
      await bus.publish(subject("Kind.a"), bytes("second"), `${spec.durable}-2`);
      await until(() => seen.includes("second"), { what: "the newer message" });
      assert.equal(await held[0]?.stored(), false);
      held[0]?.ack();
      await c.stop();
      assert.deepEqual(seen, ["first", "second"]);
    });

    it("keeps an unsettled delivery alive past its ack wait while it is held, and redelivers nothing", LONG, async () => {
      const { spec, subject } = fresh(400);
      const bus = await harness().bus();
      const seen: number[] = [];
      const held: Delivery[] = [];
      const c = await bus.consume(spec, async (d) => {
        seen.push(d.deliveries);
        held.push(d);
      });
      await bus.publish(subject("Kind.a"), bytes("x"), `${spec.durable}-1`);
      await until(() => held.length === 1, { what: "the delivery" });
      // Three ack waits: a redelivery would have come by now.
      await new Promise((r) => setTimeout(r, 1200));
      assert.deepEqual(seen, [1]);
      held[0]?.ack();
      await c.stop();
    });

    it("runs at most `concurrency` handlers at once", LONG, async () => {
      const { spec, subject } = fresh();
      const bus = await harness().bus();
      let running = 0;
      let peak = 0;
      let done = 0;
      const c = await bus.consume(
        spec,
        async (d) => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 30));
          running--;
          done++;
          d.ack();
        },
        { concurrency: 3 },
      );
      for (let i = 0; i < 12; i++) await bus.publish(subject(`Kind.o${i}`), bytes("x"), `${spec.durable}-${i}`);
      await until(() => done === 12, { what: "12 handled" });
      await c.stop();
      assert.equal(peak, 3);
    });

    it("gives unsettled deliveries back on stop, so another consumption gets them at once", LONG, async () => {
      const { spec, subject } = fresh(30_000);
      const h = harness();
      const [a, b] = [await h.bus(), await h.bus()];
      const held: Delivery[] = [];
      const ca = await a.consume(spec, async (d) => {
        held.push(d);
      });
      await a.publish(subject("Kind.a"), bytes("x"), `${spec.durable}-1`);
      await until(() => held.length === 1, { what: "the first delivery" });
      await ca.stop();
      assert.equal(held[0]?.settled(), true);
      const seen: number[] = [];
      const started = performance.now();
      const cb = await b.consume(spec, async (d) => {
        seen.push(d.deliveries);
        d.ack();
      });
      await until(() => seen.length === 1, { what: "the hand-over" });
      await cb.stop();
      // Well before the 30 s ack wait. (nats-server 2.9 rewinds a nak'ed last message and counts it as a first delivery.)
      assert.ok(performance.now() - started < 5000);
    });

    it("keeps a message nak'ed with a delay across a restart of its consumer and releases it when the delay ends", LONG, async () => {
      const { spec, subject } = fresh();
      const h = harness();
      const bus = await h.bus();
      const first = await bus.consume(spec, async (d) => d.nak(1000));
      await bus.publish(subject("Kind.a"), bytes("x"), `${spec.durable}-1`);
      const published = performance.now();
      await new Promise((r) => setTimeout(r, 200));
      await first.stop();
      const seen: Array<[number, number]> = [];
      const second = await (await h.bus()).consume(spec, async (d) => {
        seen.push([d.deliveries, performance.now() - published]);
        d.ack();
      });
      await until(() => seen.length === 1, { what: "the release", timeoutMs: 5000 });
      await second.stop();
      assert.equal(seen[0]?.[0], 2);
      assert.ok((seen[0]?.[1] ?? 0) >= 950, `released after ${Math.round(seen[0]?.[1] ?? 0)} ms`);
    });

    if (name === "JetStream") {
      it("redelivers what a process held when it died, to the surviving process, after the ack wait", LONG, async () => {
        const { spec, subject } = fresh(800);
        const h = harness();
        const [dying, survivor] = [await h.bus(), await h.bus()];
        const held: Delivery[] = [];
        await dying.consume(spec, async (d) => {
          held.push(d);
        });
        await dying.publish(subject("Kind.a"), bytes("x"), `${spec.durable}-1`);
        await until(() => held.length === 1, { what: "the first delivery" });
        await h.crash?.(dying);
        const seen: number[] = [];
        const c = await survivor.consume(spec, async (d) => {
          seen.push(d.deliveries);
          d.ack();
        });
        await until(() => seen.length === 1, { what: "the redelivery", timeoutMs: 5000 });
        await c.stop();
        assert.deepEqual(seen, [2]);
      });
    }
  });
}

consumerSuite("in-process", () => {
  const shared = createMemoryBus();
  return { bus: async () => shared };
});

let nats: NatsServer;
const connections = new Map<Bus, NatsConnection>();
describe("JetStream harness", () => {
  before(async () => {
    nats = await startNats();
    const nc = await connect({ servers: nats.url });
    await ensureStreams(nc);
    await nc.close();
  });
  after(async () => {
    for (const nc of connections.values()) await nc.close().catch(() => {});
    await nats.stop();
  });
  consumerSuite("JetStream", () => ({
    bus: async () => {
      const nc = await connect({ servers: nats.url });
      const bus = createJetStreamBus(nc);
      connections.set(bus, nc);
      return bus;
    },
    crash: async (bus) => {
      const nc = connections.get(bus);
      connections.delete(bus);
      await nc?.close();
    },
  }));
});
