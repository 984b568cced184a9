import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createMemoryBus, subjectMatches } from "../../src/events/memory-bus.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("in-process bus", () => {
  it("matches NATS subject wildcards", () => {
    assert.equal(subjectMatches("fluxgate.events.>", "fluxgate.events.github"), true);
    assert.equal(subjectMatches("fluxgate.events.>", "fluxgate.events"), false);
    assert.equal(subjectMatches("fluxgate.triggers.*.*.*", "fluxgate.triggers.dev.Kustomization.apps"), true);
    assert.equal(subjectMatches("fluxgate.triggers.*", "fluxgate.triggers.dev.x"), false);
  });

  it("drops a repeated message id inside the duplicate window and stores it again after", async () => {
    let t = Date.parse("2026-11-25T08:00:00Z");
    const bus = createMemoryBus({ now: () => new Date(t) });
    assert.deepEqual(await bus.publish("fluxgate.events.github", bytes("a"), "id-1"), { stream: "FLUXGATE_EVENTS", seq: 1, duplicate: false });
    t += 9 * 60_000;
    assert.deepEqual(await bus.publish("fluxgate.events.github", bytes("a"), "id-1"), { stream: "FLUXGATE_EVENTS", seq: 1, duplicate: true });
    t += 2 * 60_000;
    assert.deepEqual(await bus.publish("fluxgate.events.github", bytes("a"), "id-1"), { stream: "FLUXGATE_EVENTS", seq: 2, duplicate: false });
    assert.equal(bus.messages("FLUXGATE_EVENTS").length, 2);
  });

  it("keeps one message per subject on the triggers stream: a burst coalesces to its last message", async () => {
    const bus = createMemoryBus();
    for (let i = 0; i < 5; i++) await bus.publish("fluxgate.triggers.dev.GitRepository.app", bytes(`t${i}`), `m${i}`);
    await bus.publish("fluxgate.triggers.dev.GitRepository.other", bytes("o"), "o1");
    assert.deepEqual(bus.messages("FLUXGATE_TRIGGERS").map((m) => [m.subject, new TextDecoder().decode(m.data), m.seq]), [
      ["fluxgate.triggers.dev.GitRepository.app", "t4", 5],
      ["fluxgate.triggers.dev.GitRepository.other", "o", 6],
    ]);
  });

  it("forgets messages past the stream's max age, refuses subjects no stream stores, and fails once closed", async () => {
    let t = 0;
    const bus = createMemoryBus({ now: () => new Date(t) });
    await bus.publish("fluxgate.events.gitlab", bytes("old"), "x");
    t += 8 * 24 * 3_600_000;
    await bus.publish("fluxgate.events.gitlab", bytes("new"), "y");
    assert.deepEqual(bus.messages("FLUXGATE_EVENTS").map((m) => m.msgId), ["y"]);
    await assert.rejects(bus.publish("elsewhere", bytes(""), "z"), { name: "UnavailableError", reason: "BusUnavailable", message: "no stream stores subject elsewhere" });
    await bus.close();
    await assert.rejects(bus.publish("fluxgate.events.gitlab", bytes(""), "w"), { reason: "BusUnavailable" });
  });
});
