/** Window metrics as Prometheus scrapes them: computed from the current policy and time at each scrape. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { windowMetrics } from "../../src/policy/window-metrics.ts";
import { windowPolicySchema } from "../../src/policy/windows.ts";
import { parsePrometheusText } from "../support/prometheus-text.ts";

const policy = windowPolicySchema.parse({
  windows: [
    { name: "business-hours", kind: "allow", schedule: "0 9 * * 1-5", duration: "8h", timeZone: "Europe/Berlin", match: { tenants: ["dev-team", "web-team"] } },
    { name: "year-end-freeze", kind: "deny", timeZone: "Europe/Berlin", ranges: [{ start: "2026-12-19", end: "2027-01-04T06:00" }] },
  ],
});

const samples = async (registry: Registry, name: string) => parsePrometheusText(await registry.metrics()).get(name)?.samples.map((s) => [s.labels, s.value]);

describe("window metrics", () => {
  it("shows each window active or not per tenant it names, and its next transition", async () => {
    const registry = new Registry();
    let now = new Date("2026-12-24T10:00:00Z");
    windowMetrics(registry).observe({ policy: () => policy, now: () => now });
    assert.deepEqual(await samples(registry, "fluxgate_window_active"), [
      [{ window: "business-hours", kind: "allow", tenant: "dev-team" }, 1],
      [{ window: "business-hours", kind: "allow", tenant: "web-team" }, 1],
      [{ window: "year-end-freeze", kind: "deny", tenant: "" }, 1],
    ]);
    assert.deepEqual(await samples(registry, "fluxgate_window_next_transition_timestamp_seconds"), [
      [{ window: "business-hours" }, Date.parse("2026-12-24T16:00:00Z") / 1000],
      [{ window: "year-end-freeze" }, Date.parse("2027-01-04T05:00:00Z") / 1000],
    ]);
    now = new Date("2027-01-05T00:00:00Z");
    assert.deepEqual(await samples(registry, "fluxgate_window_active"), [
      [{ window: "business-hours", kind: "allow", tenant: "dev-team" }, 0],
      [{ window: "business-hours", kind: "allow", tenant: "web-team" }, 0],
      [{ window: "year-end-freeze", kind: "deny", tenant: "" }, 0],
    ]);
    assert.deepEqual(await samples(registry, "fluxgate_window_next_transition_timestamp_seconds"), [[{ window: "business-hours" }, Date.parse("2027-01-05T08:00:00Z") / 1000]]);
  });

  it("registers once per registry and reports nothing before it is told where the policy is", async () => {
    const registry = new Registry();
    assert.equal(windowMetrics(registry), windowMetrics(registry));
    assert.deepEqual(await samples(registry, "fluxgate_window_active"), []);
  });
});
