import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatRfc3339Nano, reconcileRequestPatch } from "../../src/kube/reconcile-request.ts";

describe("reconcile request patch", () => {
  it("formats time as Go's RFC3339Nano in UTC: no trailing zeros, no fraction when whole", () => {
    assert.equal(formatRfc3339Nano(new Date("2026-11-25T07:51:11.123Z")), "2026-11-25T07:51:11.123Z");
    assert.equal(formatRfc3339Nano(new Date("2026-11-25T07:51:11.120Z")), "2026-11-25T07:51:11.12Z");
    assert.equal(formatRfc3339Nano(new Date("2026-11-25T07:51:11.000Z")), "2026-11-25T07:51:11Z");
    assert.equal(formatRfc3339Nano(new Date("2026-11-25T09:51:11.5+02:00")), "2026-11-25T07:51:11.5Z");
  });

  it("is exactly the merge patch `flux reconcile` sends", () => {
    assert.equal(
      JSON.stringify(reconcileRequestPatch(new Date("2026-11-25T07:51:11.25Z"))),
      '{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"2026-11-25T07:51:11.25Z"}}}',
    );
  });

  it("sets forceAt and resetAt to the same token when asked (flux reconcile hr --force --reset)", () => {
    assert.deepEqual(reconcileRequestPatch(new Date("2026-11-25T07:51:11Z"), { force: true, reset: true }), {
      metadata: {
        annotations: {
          "reconcile.fluxcd.io/requestedAt": "2026-11-25T07:51:11Z",
          "reconcile.fluxcd.io/forceAt": "2026-11-25T07:51:11Z",
          "reconcile.fluxcd.io/resetAt": "2026-11-25T07:51:11Z",
        },
      },
    });
  });
});
