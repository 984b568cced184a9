import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_RETRY_OPTIONS,
  backoffDelay,
  decideRetry,
  formatSeconds,
  retryCause,
  runWithRetry,
} from "../../src/kube/retry-policy.ts";
import type { AttemptResult, Failure } from "../../src/kube/retry-policy.ts";
import { fakeClock } from "./fake-clock.ts";

const f = (status: number, reason: string, extra: Partial<Failure> = {}): Failure => ({ status, reason, message: `${reason} happened`, ...extra });
const state = (attempt: number, elapsedMs = 0) => ({ attempt, elapsedMs, retryConflicts: false, random: 0 });

describe("retry policy: what is transient", () => {
  it("retries 429, 500, 502, 503, 504, timeouts and connection errors; not 501 or any other 4xx", () => {
    const table: Array<[Failure, string | undefined]> = [
      [f(429, "TooManyRequests"), "TooManyRequests"],
      [f(500, "InternalError"), "ServerError"],
      [f(502, "InternalError"), "ServerError"],
      [f(503, "ServiceUnavailable"), "ServerError"],
      [f(504, "Timeout"), "ServerError"],
      [f(0, "Timeout"), "Timeout"],
      [f(0, "ConnectionError"), "ConnectionError"],
      [f(501, "InternalError"), undefined],
      [f(400, "BadRequest"), undefined],
      [f(401, "Unauthorized"), undefined],
      [f(403, "Forbidden"), undefined],
      [f(404, "NotFound"), undefined],
      [f(410, "Expired"), undefined],
      [f(415, "UnsupportedMediaType"), undefined],
      [f(422, "Invalid"), undefined],
    ];
    assert.deepEqual(table.map(([failure]) => retryCause(failure, false)), table.map(([, cause]) => cause));
  });

  it("retries 409 Conflict only for read-modify-write, and never AlreadyExists or a server-side apply conflict", () => {
    assert.equal(retryCause(f(409, "Conflict"), false), undefined);
    assert.equal(retryCause(f(409, "Conflict"), true), "Conflict");
    assert.equal(retryCause(f(409, "AlreadyExists"), true), undefined);
    const applyConflict = f(409, "Conflict", { details: { causes: [{ reason: "FieldManagerConflict", field: ".spec.interval" }] } });
    assert.equal(retryCause(applyConflict, true), undefined);
  });
});

describe("retry policy: how long to wait", () => {
  it("doubles from 250 ms and caps at 8 s, taking up to half off at random", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 12].map((a) => backoffDelay(a, DEFAULT_RETRY_OPTIONS, 0)), [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
    assert.deepEqual([1, 6].map((a) => backoffDelay(a, DEFAULT_RETRY_OPTIONS, 0.5)), [188, 6000]);
    assert.deepEqual([1, 6].map((a) => backoffDelay(a, DEFAULT_RETRY_OPTIONS, 0.999)), [125, 4004]);
  });

  it("waits exactly what Retry-After says on 429, and on a 5xx that carries it, without jitter", () => {
    const withRandom = { ...state(1), random: 0.9 };
    assert.deepEqual(decideRetry(f(429, "TooManyRequests", { retryAfterSeconds: 2 }), withRandom, DEFAULT_RETRY_OPTIONS), { retry: true, cause: "TooManyRequests", delayMs: 2000 });
    assert.deepEqual(decideRetry(f(503, "ServiceUnavailable", { retryAfterSeconds: 1 }), withRandom, DEFAULT_RETRY_OPTIONS), { retry: true, cause: "ServerError", delayMs: 1000 });
  });

  it("backs off on a 429 without Retry-After", () => {
    assert.deepEqual(decideRetry(f(429, "TooManyRequests"), state(3), DEFAULT_RETRY_OPTIONS), { retry: true, cause: "TooManyRequests", delayMs: 1000 });
  });

  it("gives up when the wait would end past the deadline, saying so", () => {
    assert.deepEqual(decideRetry(f(503, "ServiceUnavailable"), state(6, 25_000), DEFAULT_RETRY_OPTIONS), {
      retry: false,
      gaveUp: "gave up after 6 attempts in 25s (deadline 30s)",
    });
    assert.deepEqual(decideRetry(f(429, "TooManyRequests", { retryAfterSeconds: 60 }), state(1, 120), DEFAULT_RETRY_OPTIONS), {
      retry: false,
      gaveUp: "gave up after 1 attempt in 120ms (the server asked to retry after 60s, past the 30s deadline)",
    });
  });

  it("gives up after maxAttempts", () => {
    assert.deepEqual(decideRetry(f(0, "ConnectionError"), state(3, 1500), { ...DEFAULT_RETRY_OPTIONS, maxAttempts: 3 }), {
      retry: false,
      gaveUp: "gave up after 3 attempts in 1.5s",
    });
  });

  it("stops at once, without a gaveUp text, on a failure that is not transient", () => {
    assert.deepEqual(decideRetry(f(404, "NotFound"), state(1), DEFAULT_RETRY_OPTIONS), { retry: false });
  });

  it("formats durations for messages", () => {
    assert.deepEqual([0, 850, 1000, 2549, 30_000, 24_550].map(formatSeconds), ["0ms", "850ms", "1s", "2.5s", "30s", "24.6s"]);
  });
});

describe("runWithRetry with a fake clock", () => {
  /** An operation answering from a script, each attempt taking `latencyMs` of fake time. */
  function scripted(clock: ReturnType<typeof fakeClock>, script: Array<Failure | "ok">, latencyMs = 100) {
    const seen: Array<{ number: number; remainingMs: number }> = [];
    const op = async (attempt: { number: number; remainingMs: number }): Promise<AttemptResult<string>> => {
      seen.push(attempt);
      clock.advance(latencyMs);
      const step = script[Math.min(attempt.number, script.length) - 1];
      return step === "ok" || step === undefined ? { ok: true, value: `done on attempt ${attempt.number}` } : { ok: false, failure: step };
    };
    return { op, seen };
  }

  it("honours Retry-After on a 429, then succeeds", async () => {
    const clock = fakeClock();
    const { op } = scripted(clock, [f(429, "TooManyRequests", { retryAfterSeconds: 2 }), "ok"]);
    const out = await runWithRetry(op, { options: DEFAULT_RETRY_OPTIONS, clock });
    assert.deepEqual(out, { ok: true, value: "done on attempt 2", attempts: 2, elapsedMs: 2200 });
    assert.deepEqual(clock.sleeps, [2000]);
  });

  it("backs off exponentially on 503 until the deadline and reports how long it tried", async () => {
    const clock = fakeClock();
    const { op, seen } = scripted(clock, [f(503, "ServiceUnavailable")]);
    const out = await runWithRetry(op, { options: DEFAULT_RETRY_OPTIONS, clock });
    assert.deepEqual(clock.sleeps, [250, 500, 1000, 2000, 4000, 8000, 8000]);
    assert.deepEqual(out, { ok: false, failure: f(503, "ServiceUnavailable"), attempts: 8, elapsedMs: 24_550, gaveUp: "gave up after 8 attempts in 24.6s (deadline 30s)" });
    assert.deepEqual(seen.map((s) => s.remainingMs), [30_000, 29_650, 29_050, 27_950, 25_850, 21_750, 13_650, 5550]);
  });

  it("reports every retry before waiting", async () => {
    const clock = fakeClock();
    const { op } = scripted(clock, [f(0, "ConnectionError"), f(500, "InternalError", { retryAfterSeconds: 1 }), "ok"]);
    const events: string[] = [];
    const out = await runWithRetry(op, { options: DEFAULT_RETRY_OPTIONS, clock, onRetry: (e) => events.push(`${e.attempt} ${e.cause} ${e.delayMs}`) });
    assert.equal(out.ok, true);
    assert.deepEqual(events, ["1 ConnectionError 250", "2 ServerError 1000"]);
  });

  it("re-runs the whole operation on 409 Conflict when asked to, and not otherwise", async () => {
    const clock = fakeClock();
    const conflict = f(409, "Conflict");
    const retried = await runWithRetry(scripted(clock, [conflict, conflict, "ok"]).op, { options: DEFAULT_RETRY_OPTIONS, clock, retryConflicts: true });
    assert.deepEqual([retried.ok, retried.attempts], [true, 3]);
    const once = await runWithRetry(scripted(clock, [conflict, "ok"]).op, { options: DEFAULT_RETRY_OPTIONS, clock });
    assert.deepEqual(once, { ok: false, failure: conflict, attempts: 1, elapsedMs: 100 });
  });

  it("lets an exception from the operation through at once", async () => {
    const clock = fakeClock();
    await assert.rejects(
      runWithRetry(async () => {
        throw new TypeError("bug");
      }, { options: DEFAULT_RETRY_OPTIONS, clock }),
      { name: "TypeError", message: "bug" },
    );
    assert.deepEqual(clock.sleeps, []);
  });

  it("stops waiting when its signal aborts", async () => {
    const clock = fakeClock();
    const abort = new AbortController();
    abort.abort(new Error("shutting down"));
    const { op, seen } = scripted(clock, [f(503, "ServiceUnavailable")]);
    await assert.rejects(runWithRetry(op, { options: DEFAULT_RETRY_OPTIONS, clock, signal: abort.signal }), { message: "shutting down" });
    assert.equal(seen.length, 1);
  });
});
