import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decide, parseRequestedFor, pendingRequest, requestedForValue } from "../../src/apply/reconcile-state.ts";
import type { ReconcileState } from "../../src/apply/reconcile-state.ts";

const T1 = "2026-11-25T07:51:11.12Z";
const now = new Date("2026-11-25T07:52:00Z");
const state = (s: Partial<ReconcileState>): ReconcileState => ({ requestedAt: undefined, lastHandledAt: undefined, ours: undefined, ...s });
const ours = (eventId: string) => ({ requestedAt: T1, ours: { token: T1, eventId } });
const input = (reconcile: ReconcileState, extra: { suspended?: boolean; holdUntil?: Date; eventId?: string } = {}) => ({
  eventId: extra.eventId ?? "e2",
  object: { suspended: extra.suspended ?? false, reconcile },
  holdUntil: extra.holdUntil,
  now,
  pendingTimeoutMs: 600_000,
});

describe("the requested-for annotation", () => {
  it("holds the token and the event id, and reads back only in that shape", () => {
    assert.equal(requestedForValue(T1, "github/flux-system/hook/d-1"), `${T1} github/flux-system/hook/d-1`);
    assert.deepEqual(parseRequestedFor(`${T1} a b`), { token: T1, eventId: "a b" });
    assert.deepEqual([parseRequestedFor(undefined), parseRequestedFor(T1), parseRequestedFor(` ${T1}`)], [undefined, undefined, undefined]);
  });

  it("makes a request pending only while it is ours, current and unhandled", () => {
    assert.deepEqual(pendingRequest(state(ours("e1"))), { eventId: "e1", at: new Date(T1) });
    assert.equal(pendingRequest(state({ ...ours("e1"), lastHandledAt: T1 })), undefined, "handled");
    assert.equal(pendingRequest(state({ ...ours("e1"), requestedAt: "2026-11-25 07:53:00.1 +0000 UTC m=+1.1" })), undefined, "someone asked since");
    assert.equal(pendingRequest(state({ requestedAt: T1 })), undefined, "not ours");
  });
});

describe("deciding a trigger", () => {
  it("skips a suspended object before anything else", () => {
    assert.deepEqual(decide(input(state({}), { suspended: true, holdUntil: new Date("2026-11-25T09:00:00Z") })), { action: "skip", reason: "suspended" });
  });

  it("skips a trigger whose event was already requested, handled or not", () => {
    assert.deepEqual(decide(input(state(ours("e2")))), { action: "skip", reason: "duplicate" });
    assert.deepEqual(decide(input(state({ ...ours("e2"), lastHandledAt: T1 }))), { action: "skip", reason: "duplicate" });
  });

  it("holds until a closed window opens, and patches once it is open", () => {
    assert.deepEqual(decide(input(state({}), { holdUntil: new Date("2026-11-25T09:00:00Z") })), { action: "hold", until: new Date("2026-11-25T09:00:00Z") });
    assert.deepEqual(decide(input(state({}), { holdUntil: now })), { action: "patch" });
  });

  it("waits while our request for an older event is unhandled, until the pending timeout", () => {
    assert.deepEqual(decide(input(state(ours("e1")))), { action: "wait", deadline: new Date(Date.parse(T1) + 600_000) });
    assert.deepEqual(decide({ ...input(state(ours("e1"))), now: new Date(Date.parse(T1) + 600_000) }), { action: "patch" });
  });

  it("patches a newer event once our request was handled, or when the object is unknown", () => {
    assert.deepEqual(decide(input(state({ ...ours("e1"), lastHandledAt: T1 }))), { action: "patch" });
    assert.deepEqual(decide({ ...input(state({})), object: undefined }), { action: "patch" });
  });
});
