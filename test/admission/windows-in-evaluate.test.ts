import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { evaluate } from "../../src/admission/evaluate.ts";
import type { AdmissionInput, KubeObject } from "../../src/admission/rule.ts";
import { policySchema } from "../../src/policy/tenancy.ts";

const ks = (spec: Record<string, unknown>, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "web", namespace: "apps", annotations },
  spec: { interval: "10m", path: "./", prune: true, sourceRef: { kind: "GitRepository", name: "web" }, serviceAccountName: "dev-team", ...spec },
});

const policy = policySchema.parse({
  tenants: [{ name: "dev-team", namespaces: ["apps"], serviceAccountName: "dev-team" }],
  windows: [{ name: "year-end-freeze", kind: "deny", timeZone: "Europe/Berlin", ranges: [{ start: "2026-12-19", end: "2027-01-04T09:00" }] }],
  breakGlass: { groups: ["platform-oncall"] },
});

const request = (over: Partial<AdmissionInput>): AdmissionInput => ({
  operation: "UPDATE",
  kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
  namespace: "apps",
  user: { username: "jane", groups: ["system:authenticated"] },
  dryRun: false,
  now: new Date("2026-12-24T12:00:00Z"),
  ...over,
});

describe("deployment windows in evaluate()", () => {
  it("denies a manual reconcile request during a freeze although the spec is unchanged", () => {
    const d = evaluate(request({ oldObject: ks({}), object: ks({}, { "reconcile.fluxcd.io/requestedAt": "2026-12-24T12:00:00Z" }) }), policy, "validate");
    assert.equal(d.exempt, undefined);
    assert.deepEqual(d.denials.map((v) => v.rule), ["deployment-window"]);
    assert.equal(d.auditAnnotations.decision, "denied");
    assert.match(d.denials[0]?.message ?? "", /deployment window "year-end-freeze" \(deny\).*2027-01-04 09:00 Europe\/Berlin \(2027-01-04T08:00:00Z\)/);
  });

  it("reports window and tenancy findings of one object together", () => {
    const d = evaluate(request({ oldObject: ks({}), object: ks({ serviceAccountName: "root", suspend: false, path: "./other" }) }), policy, "validate");
    assert.deepEqual(d.denials.map((v) => v.rule).sort(), ["deployment-window", "service-account"]);
  });

  it("lets a break-glass group change the object, recording who", () => {
    const d = evaluate(request({ user: { username: "sam", groups: ["platform-oncall"] }, oldObject: ks({}), object: ks({ path: "./hotfix" }) }), policy, "validate");
    assert.deepEqual(d.denials, []);
    assert.equal(d.breakGlass?.user, "sam");
  });

  it("runs no window check in the mutate phase, and allows the same change after the freeze", () => {
    assert.deepEqual(evaluate(request({ oldObject: ks({}), object: ks({ path: "./x" }) }), policy, "mutate").denials, []);
    const after = evaluate(request({ now: new Date("2027-01-04T08:00:00Z"), oldObject: ks({}), object: ks({ path: "./x" }) }), policy, "validate");
    assert.deepEqual(after.denials, []);
  });

  it("answers with warnings in audit mode", () => {
    const audit = policySchema.parse({ ...policy, rules: { "deployment-window": "audit" } });
    const d = evaluate(request({ oldObject: ks({}), object: ks({ path: "./x" }) }), audit, "validate");
    assert.deepEqual([d.denials.length, d.warnings.map((v) => v.rule)], [0, ["deployment-window"]]);
  });
});
