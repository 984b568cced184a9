import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describeSelector, findTenant, selectorMatches, tenantOwns } from "../../src/policy/tenant-namespaces.ts";
import { labelSelector, policySchema } from "../../src/policy/tenancy.ts";

const policy = policySchema.parse({
  tenants: [
    { name: "dev-team", namespaces: ["apps"], namespaceSelector: { matchLabels: { "toolkit.fluxcd.io/tenant": "dev-team" } }, serviceAccountName: "dev-team" },
    { name: "sre-team", namespaceSelector: { matchExpressions: [{ key: "toolkit.fluxcd.io/tenant", operator: "In", values: ["sre-team", "platform"] }] }, serviceAccountName: "sre" },
  ],
});
const labels: Record<string, Record<string, string>> = {
  apps: { "toolkit.fluxcd.io/tenant": "sre-team" },
  podinfo: { "toolkit.fluxcd.io/tenant": "dev-team" },
  "cert-manager": { "toolkit.fluxcd.io/tenant": "platform" },
  scratch: {},
};
const namespaceLabels = (ns: string) => labels[ns];
const name = (m: ReturnType<typeof findTenant>) => (m === undefined ? undefined : `${m.tenant.name} by ${m.by}`);

describe("findTenant", () => {
  it("finds a tenant by a listed name before any selector", () => {
    assert.equal(name(findTenant(policy, "apps", namespaceLabels)), "dev-team by name");
  });

  it("finds a tenant by its selector when the namespace's labels are known", () => {
    assert.equal(name(findTenant(policy, "podinfo", namespaceLabels)), "dev-team by selector");
    assert.equal(name(findTenant(policy, "cert-manager", namespaceLabels)), "sre-team by selector");
    assert.equal(name(findTenant(policy, "podinfo")), undefined);
  });

  it("falls back to the default tenant, else to none", () => {
    assert.equal(name(findTenant(policy, "scratch", namespaceLabels)), undefined);
    assert.equal(name(findTenant({ ...policy, defaultTenant: "sre-team" }, "scratch", namespaceLabels)), "sre-team by default");
  });
});

describe("tenantOwns", () => {
  it("owns listed namespaces, and selected ones only when labels are known", () => {
    const dev = policy.tenants[0] ?? assert.fail();
    assert.deepEqual(
      [tenantOwns(dev, "apps"), tenantOwns(dev, "podinfo", namespaceLabels), tenantOwns(dev, "podinfo"), tenantOwns(dev, "cert-manager", namespaceLabels)],
      [true, true, false, false],
    );
  });
});

describe("selectorMatches", () => {
  const sel = (s: unknown) => labelSelector.parse(s);
  it("follows Kubernetes label-selector semantics for matchLabels and each operator", () => {
    const l = { team: "dev", tier: "web" };
    assert.deepEqual(
      [
        selectorMatches(sel({ matchLabels: { team: "dev" } }), l),
        selectorMatches(sel({ matchLabels: { team: "dev", tier: "db" } }), l),
        selectorMatches(sel({ matchExpressions: [{ key: "tier", operator: "In", values: ["web", "api"] }] }), l),
        selectorMatches(sel({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["web"] }] }), l),
        selectorMatches(sel({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }), l),
        selectorMatches(sel({ matchExpressions: [{ key: "team", operator: "Exists" }] }), l),
        selectorMatches(sel({ matchExpressions: [{ key: "team", operator: "DoesNotExist" }] }), l),
        selectorMatches(sel({ matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }), l),
      ],
      [true, false, true, false, true, true, false, false],
    );
  });
});

describe("describeSelector", () => {
  it("writes a selector in kubectl's -l syntax", () => {
    const s = labelSelector.parse({
      matchLabels: { "toolkit.fluxcd.io/tenant": "dev-team" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["web", "api"] },
        { key: "zone", operator: "NotIn", values: ["a"] },
        { key: "owner", operator: "Exists" },
        { key: "legacy", operator: "DoesNotExist" },
      ],
    });
    assert.equal(describeSelector(s), "toolkit.fluxcd.io/tenant=dev-team,tier in (web,api),zone notin (a),owner,!legacy");
  });
});
