/** The deployment window model: what the schema accepts and how it says what is wrong, and which objects a window applies to. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { rangeInstant, windowApplies, windowPolicySchema } from "../../src/policy/windows.ts";
import type { WindowPolicyInput } from "../../src/policy/windows.ts";
import { formatInZone, instantOfWall, isTimeZone } from "../../src/policy/zoned-time.ts";

const issues = (input: unknown): Array<[string, string]> => {
  const r = windowPolicySchema.safeParse(input);
  assert.equal(r.success, false, "expected the policy to be rejected");
  return (r.error?.issues ?? []).map((i) => [i.path.join("."), i.message]);
};

const one = (window: Record<string, unknown>) => windowPolicySchema.parse({ windows: [window] }).windows[0]!;

describe("the window policy schema", () => {
  it("fills in the defaults: UTC, no manual reconcile, no freeze, nobody with break-glass", () => {
    const input: WindowPolicyInput = { windows: [{ name: "business-hours", kind: "allow", schedule: "0 9 * * 1-5", duration: "8h" }] };
    assert.deepEqual(windowPolicySchema.parse(input), {
      windows: [{ name: "business-hours", kind: "allow", schedule: "0 9 * * 1-5", duration: 28_800_000, timeZone: "UTC", manualReconcile: false, freeze: false }],
      breakGlass: { users: [], groups: [], requireReason: false },
    });
    assert.deepEqual(windowPolicySchema.parse({}), { windows: [], breakGlass: { users: [], groups: [], requireReason: false } });
  });

  it("takes one-off ranges, a match, break-glass users and groups", () => {
    const p = windowPolicySchema.parse({
      windows: [
        {
          name: "year-end-freeze",
          kind: "deny",
          timeZone: "Europe/Berlin",
          ranges: [{ start: "2026-12-19", end: "2027-01-04T06:00" }],
          match: { tenants: ["dev-team"], namespaces: ["apps-*", "!apps-sandbox"], kinds: ["Kustomization", "HelmRelease"], labels: { matchLabels: { tier: "prod" } } },
          freeze: true,
          description: "CHG-1234",
        },
      ],
      breakGlass: { groups: ["platform-oncall"], users: ["jane@example.com"], requireReason: true },
    });
    assert.deepEqual(p.windows[0]?.match, {
      tenants: ["dev-team"],
      namespaces: ["apps-*", "!apps-sandbox"],
      kinds: ["Kustomization", "HelmRelease"],
      labels: { matchLabels: { tier: "prod" }, matchExpressions: [] },
    });
    assert.deepEqual(p.breakGlass, { users: ["jane@example.com"], groups: ["platform-oncall"], requireReason: true });
  });

  it("names what is wrong with a window and where", () => {
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", schedule: "0 9 * * *", duration: "8h", ranges: [{ start: "2026-12-24", end: "2026-12-25" }] }] }), [
      ["windows.0.ranges", "give either schedule and duration or ranges, not both"],
    ]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow" }] }), [["windows.0", "a window needs schedule and duration, or ranges"]]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", schedule: "0 9 * * *" }] }), [["windows.0.duration", 'schedule needs a duration, e.g. "8h"']]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", duration: "8h" }] }), [["windows.0.schedule", 'duration needs a schedule of start times, e.g. "0 22 * * *"']]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "maybe", schedule: "0 9 * * *", duration: "8h" }] }), [["windows.0.kind", 'expected "allow" or "deny"']]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", schedule: "0 0 9 * * *", duration: "8h" }] }), [
      ["windows.0.schedule", 'expected 5 fields (minute hour day-of-month month day-of-week) like "0 9 * * 1-5", got "0 0 9 * * *"'],
    ]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", schedule: "0 25 * * *", duration: "8h" }] }).map(([p]) => p), ["windows.0.schedule"]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", schedule: "0 0 30 2 *", duration: "8h" }] }), [["windows.0.schedule", '"0 0 30 2 *" never runs']]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", schedule: "0 9 * * *", duration: "8 hours" }] }), [
      ["windows.0.duration", 'expected a positive duration like "8h", "90m" or "3d", got "8 hours"'],
    ]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", schedule: "0 9 * * *", duration: "0" }] }), [
      ["windows.0.duration", 'expected a positive duration like "8h", "90m" or "3d", got "0"'],
    ]);
    assert.deepEqual(issues({ windows: [{ name: "w", kind: "allow", schedule: "0 9 * * *", duration: "8h", timeZone: "Europe/Atlantis" }] }), [
      ["windows.0.timeZone", 'expected an IANA time zone like "Europe/Berlin", "America/New_York" or "UTC"'],
    ]);
    assert.deepEqual(issues({ windows: [{ name: "Business Hours", kind: "allow", schedule: "0 9 * * *", duration: "8h" }] }), [
      ["windows.0.name", "expected a name of lowercase letters, digits, '-' and '.', at most 63 (it becomes an annotation value and a metric label)"],
    ]);
  });

  it("names what is wrong with a range: not a date, not a real date, ending before it starts", () => {
    const w = (ranges: unknown) => ({ windows: [{ name: "w", kind: "deny", timeZone: "Europe/Berlin", ranges }] });
    assert.deepEqual(issues(w([{ start: "24.12.2026", end: "2026-12-27" }])), [
      ["windows.0.ranges.0.start", 'expected a date-time like "2026-12-24", "2026-12-24T18:00" or "2026-12-24T18:00:00Z"'],
    ]);
    assert.deepEqual(issues(w([{ start: "2026-02-30", end: "2026-03-02" }])), [["windows.0.ranges.0.start", '"2026-02-30" is not a real date and time']]);
    assert.deepEqual(issues(w([{ start: "2026-12-27", end: "2026-12-24" }])), [
      ["windows.0.ranges.0.end", "ends at or before its start (2026-12-27); the end is exclusive and must be later"],
    ]);
    assert.deepEqual(issues(w([])), [["windows.0.ranges", "Too small: expected array to have >=1 items"]]);
  });

  it("rejects two windows of one name, kinds Flux does not have, and an empty label selector", () => {
    const daily = { kind: "allow", schedule: "0 9 * * *", duration: "1h" };
    assert.deepEqual(issues({ windows: [{ name: "a", ...daily }, { name: "a", ...daily }] }), [["windows.1.name", 'window "a" is defined twice']]);
    assert.deepEqual(issues({ windows: [{ name: "a", ...daily, match: { kinds: ["Deployment"] } }] }).map(([p]) => p), ["windows.0.match.kinds.0"]);
    assert.deepEqual(issues({ windows: [{ name: "a", ...daily, match: { labels: {} } }] }), [
      ["windows.0.match.labels", "an empty label selector matches every object; give matchLabels or matchExpressions, or leave labels out"],
    ]);
    assert.deepEqual(issues({ windows: [{ name: "a", ...daily, match: { namespaces: [] } }] }), [["windows.0.match.namespaces", "Too small: expected array to have >=1 items"]]);
    assert.deepEqual(issues({ windows: [], breakGlass: { teams: ["x"] } }), [["breakGlass", 'Unrecognized key: "teams"']]);
  });
});

describe("which objects a window applies to", () => {
  const target = { namespace: "apps-web", kind: "HelmRelease", name: "podinfo", labels: { tier: "prod" }, tenant: "dev-team" };
  const daily = { name: "w", kind: "deny", schedule: "0 9 * * *", duration: "1h" };

  it("applies a window without match to every object", () => {
    assert.equal(windowApplies(one(daily), target), true);
  });

  it("needs every selector given to match, any entry of a list, and no excluded one", () => {
    const applies = (match: Record<string, unknown>, t: Partial<typeof target> = {}) => windowApplies(one({ ...daily, match }), { ...target, ...t });
    assert.equal(applies({ tenants: ["dev-team"], namespaces: ["apps-*"], kinds: ["HelmRelease"], names: ["pod*"], labels: { matchLabels: { tier: "prod" } } }), true);
    assert.equal(applies({ tenants: ["ops"] }), false);
    assert.equal(applies({ tenants: ["dev-team"] }, { tenant: undefined }), false, "a tenant window never applies where no tenant is known");
    assert.equal(applies({ namespaces: ["apps-*", "!apps-web"] }), false);
    assert.equal(applies({ namespaces: ["!flux-system"] }), true, "only exclusions: everything else");
    assert.equal(applies({ namespaces: ["!flux-system"] }, { namespace: "flux-system" }), false);
    assert.equal(applies({ kinds: ["Kustomization"] }), false);
    assert.equal(applies({ names: ["web", "pod*"] }), true);
    assert.equal(applies({ labels: { matchExpressions: [{ key: "tier", operator: "In", values: ["prod", "staging"] }] } }), true);
    assert.equal(applies({ labels: { matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] } }), false);
    assert.equal(applies({ labels: { matchLabels: { tier: "prod" } } }, { labels: undefined }), false);
  });
});

describe("wall-clock time in a zone", () => {
  it("knows IANA zones and nothing else", () => {
    assert.deepEqual(["Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+2"].map(isTimeZone), [true, true, true, true]);
    assert.deepEqual(["Europe/Atlantis", "+01:00", "", "CET CEST"].map(isTimeZone), [false, false, false, false]);
  });

  it("resolves a local time skipped by spring-forward to the end of the gap, a repeated one to its first occurrence", () => {
    const iso = (zone: string, ...wall: [number, number, number, number, number]) => new Date(instantOfWall(zone, Date.UTC(...wall))).toISOString();
    assert.equal(iso("Europe/Berlin", 2026, 2, 29, 2, 30), "2026-03-29T01:00:00.000Z");
    assert.equal(iso("Europe/Berlin", 2026, 9, 25, 2, 30), "2026-10-25T00:30:00.000Z");
    assert.equal(iso("America/New_York", 2026, 2, 8, 2, 15), "2026-03-08T07:00:00.000Z");
    assert.equal(iso("America/New_York", 2026, 10, 1, 1, 30), "2026-11-01T05:30:00.000Z");
    assert.equal(new Date(instantOfWall("America/New_York", Date.UTC(2026, 10, 1, 1, 30), Date.parse("2026-11-01T06:00:00Z"))).toISOString(), "2026-11-01T06:30:00.000Z");
  });

  it("reads range bounds in the window's zone unless they carry Z or an offset", () => {
    assert.equal(rangeInstant("2026-12-24", "Europe/Berlin"), Date.parse("2026-12-23T23:00:00Z"));
    assert.equal(rangeInstant("2026-07-01T18:30", "America/New_York"), Date.parse("2026-07-01T22:30:00Z"));
    assert.equal(rangeInstant("2026-12-24T18:00:00Z", "Europe/Berlin"), Date.parse("2026-12-24T18:00:00Z"));
    assert.equal(rangeInstant("2026-12-24T18:00+05:30", "Europe/Berlin"), Date.parse("2026-12-24T12:30:00Z"));
    assert.equal(rangeInstant("2026-13-01", "UTC"), undefined);
  });

  it("shows an instant in the zone and in UTC", () => {
    assert.equal(formatInZone(new Date("2027-01-03T23:00:00Z"), "Europe/Berlin"), "2027-01-04 00:00 Europe/Berlin (2027-01-03T23:00:00Z)");
    assert.equal(formatInZone(new Date("2026-11-01T06:30:15Z"), "America/New_York"), "2026-11-01 01:30:15 America/New_York (2026-11-01T06:30:15Z)");
  });
});
