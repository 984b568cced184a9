/** How windows combine into open or closed for one object, and when that changes. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { nextPolicyTransition, windowDecision, windowHold } from "../../src/policy/window-decision.ts";
import type { WindowDecision, WindowPurpose } from "../../src/policy/window-decision.ts";
import { windowPolicySchema } from "../../src/policy/windows.ts";
import type { WindowTarget } from "../../src/policy/windows.ts";

const policy = (...windows: Array<Record<string, unknown>>) => windowPolicySchema.parse({ windows });

const web: WindowTarget = { namespace: "apps", kind: "Kustomization", name: "web", labels: {}, tenant: "dev-team" };

const decide = (p: ReturnType<typeof policy>, at: string, purpose: WindowPurpose = "change", target: WindowTarget = web): Record<string, unknown> => {
  const d: WindowDecision = windowDecision(p, target, new Date(at), purpose);
  return { ...d, nextTransition: d.nextTransition?.toISOString(), opensAt: d.opensAt?.toISOString(), closesAt: d.closesAt?.toISOString() };
};

const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const businessHours = { name: "business-hours", kind: "allow", schedule: "0 9 * * 1-5", duration: "8h", timeZone: "Europe/Berlin" };
const fridayAfternoon = { name: "no-friday-afternoon", kind: "deny", schedule: "0 12 * * 5", duration: "5h", timeZone: "Europe/Berlin" };

describe("overlapping allow and deny windows", () => {
  const p = policy(businessHours, fridayAfternoon);

  it("is open inside the allow window until the deny window starts", () => {
    // Friday 2026-03-27, 10:00 CET.
    assert.deepEqual(strip(decide(p, "2026-03-27T09:00:00Z")), {
      open: true,
      reason: "inside-allow",
      deciding: ["business-hours"],
      nextTransition: "2026-03-27T11:00:00.000Z",
      closesAt: "2026-03-27T11:00:00.000Z",
    });
  });

  it("lets deny win over an active allow, and opens at the next allow start after both (across the DST change)", () => {
    // 13:00 CET Friday: both active. Next opening: Monday 09:00 CEST.
    assert.deepEqual(strip(decide(p, "2026-03-27T12:00:00Z")), {
      open: false,
      reason: "deny",
      deciding: ["no-friday-afternoon"],
      nextTransition: "2026-03-30T07:00:00.000Z",
      opensAt: "2026-03-30T07:00:00.000Z",
    });
  });

  it("is closed outside every allow window, naming them", () => {
    assert.deepEqual(strip(decide(p, "2026-03-28T12:00:00Z")), {
      open: false,
      reason: "outside-allow",
      deciding: ["business-hours"],
      nextTransition: "2026-03-30T07:00:00.000Z",
      opensAt: "2026-03-30T07:00:00.000Z",
    });
  });

  it("opens only when chained deny windows have all ended", () => {
    const chained = policy(
      { name: "a", kind: "deny", ranges: [{ start: "2026-06-01T10:00:00Z", end: "2026-06-01T12:00:00Z" }] },
      { name: "b", kind: "deny", ranges: [{ start: "2026-06-01T11:00:00Z", end: "2026-06-01T14:00:00Z" }] },
    );
    assert.deepEqual(strip(decide(chained, "2026-06-01T11:30:00Z")), {
      open: false,
      reason: "deny",
      deciding: ["a", "b"],
      nextTransition: "2026-06-01T14:00:00.000Z",
      opensAt: "2026-06-01T14:00:00.000Z",
    });
  });

  it("opens a year-end freeze at the first business-hours start after it", () => {
    const yearEnd = policy(businessHours, { name: "year-end-freeze", kind: "deny", timeZone: "Europe/Berlin", ranges: [{ start: "2026-12-19", end: "2027-01-04T06:00" }], freeze: true });
    assert.deepEqual(strip(decide(yearEnd, "2026-12-24T10:00:00Z")), {
      open: false,
      reason: "deny",
      deciding: ["year-end-freeze"],
      nextTransition: "2027-01-04T08:00:00.000Z",
      opensAt: "2027-01-04T08:00:00.000Z",
      freezeBy: "year-end-freeze",
    });
  });
});

describe("objects no window restricts", () => {
  it("is open with no windows at all, and never changes", () => {
    assert.deepEqual(strip(decide(policy(), "2026-06-01T10:00:00Z")), { open: true, reason: "unrestricted", deciding: [] });
  });

  it("is open when the only allow window is for another tenant (a window with no allow match)", () => {
    const p = policy({ ...businessHours, match: { tenants: ["dev-team"] } });
    const ops: WindowTarget = { ...web, namespace: "ops", tenant: "ops" };
    assert.deepEqual(strip(decide(p, "2026-03-28T12:00:00Z", "change", ops)), { open: true, reason: "unrestricted", deciding: [] });
    assert.equal(decide(p, "2026-03-28T12:00:00Z").open, false, "the tenant it names is closed on Saturday");
  });

  it("is open while a deny window is inactive, until it starts", () => {
    assert.deepEqual(strip(decide(policy(fridayAfternoon), "2026-03-27T09:00:00Z")), {
      open: true,
      reason: "unrestricted",
      deciding: [],
      nextTransition: "2026-03-27T11:00:00.000Z",
      closesAt: "2026-03-27T11:00:00.000Z",
    });
  });
});

describe("manual reconcile requests", () => {
  it("pass a deny window with manualReconcile, while spec changes stay closed", () => {
    const p = policy({ ...fridayAfternoon, manualReconcile: true });
    assert.equal(decide(p, "2026-03-27T12:00:00Z", "manual-reconcile").open, true);
    assert.equal(decide(p, "2026-03-27T12:00:00Z", "change").open, false);
    assert.equal(decide(p, "2026-03-27T12:00:00Z", "reconcile").open, false, "Fluxgate's own triggers wait like changes");
  });

  it("stay closed when any active deny window lacks manualReconcile", () => {
    const p = policy({ ...fridayAfternoon, manualReconcile: true }, { ...fridayAfternoon, name: "release-freeze" });
    assert.deepEqual(decide(p, "2026-03-27T12:00:00Z", "manual-reconcile").deciding, ["release-freeze"]);
  });

  it("pass outside allow windows only when every allow window has manualReconcile", () => {
    const both = policy({ ...businessHours, manualReconcile: true }, { ...businessHours, name: "weekend-ops", schedule: "0 10 * * 6", duration: "2h", manualReconcile: true });
    assert.equal(decide(both, "2026-03-28T12:00:00Z", "manual-reconcile").open, true);
    const one = policy({ ...businessHours, manualReconcile: true }, { ...businessHours, name: "weekend-ops", schedule: "0 10 * * 6", duration: "2h" });
    assert.deepEqual(strip(decide(one, "2026-03-28T12:00:00Z", "manual-reconcile")), {
      open: false,
      reason: "outside-allow",
      deciding: ["business-hours", "weekend-ops"],
      nextTransition: "2026-03-30T07:00:00.000Z",
      opensAt: "2026-03-30T07:00:00.000Z",
    });
  });
});

describe("freezes and the policy's next edge", () => {
  it("names the first deciding window with freeze while closed, and none while open", () => {
    const p = policy({ ...businessHours, freeze: true });
    assert.equal(decide(p, "2026-03-28T12:00:00Z").freezeBy, "business-hours");
    assert.equal(decide(p, "2026-03-27T09:00:00Z").freezeBy, undefined);
    assert.equal(decide(policy(businessHours), "2026-03-28T12:00:00Z").freezeBy, undefined);
  });

  it("finds the next start or end of any window", () => {
    const p = policy(businessHours, fridayAfternoon);
    assert.equal(nextPolicyTransition(p, new Date("2026-03-27T09:00:00Z"))?.toISOString(), "2026-03-27T11:00:00.000Z");
    assert.equal(nextPolicyTransition(p, new Date("2026-03-27T11:00:00Z"))?.toISOString(), "2026-03-27T16:00:00.000Z");
    assert.equal(nextPolicyTransition(policy(), new Date("2026-03-27T11:00:00Z")), undefined);
  });
});

describe("holding the worker's triggers", () => {
  it("holds a trigger until its object's windows open, and lets it run while open", () => {
    const p = policy({ ...businessHours, match: { tenants: ["dev-team"] } }, { name: "forever", kind: "deny", ranges: [{ start: "2026-01-01", end: "2099-01-01" }], match: { namespaces: ["frozen"] } });
    const hold = windowHold(() => p, (ns) => (ns === "apps" ? "dev-team" : undefined));
    const target = { namespace: "apps", kind: "Kustomization", name: "web", labels: {} };
    assert.equal(hold(target, new Date("2026-03-28T12:00:00Z"))?.toISOString(), "2026-03-30T07:00:00.000Z");
    assert.equal(hold(target, new Date("2026-03-30T10:00:00Z")), undefined);
    assert.equal(hold({ ...target, namespace: "ops" }, new Date("2026-03-28T12:00:00Z")), undefined, "business-hours is dev-team's only");
    assert.equal(hold({ ...target, namespace: "frozen" }, new Date("2026-03-28T12:00:00Z"))?.toISOString(), "2027-05-02T12:00:00.000Z", "no opening within 400 days: look again then");
  });
});
