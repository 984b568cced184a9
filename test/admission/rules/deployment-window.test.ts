/** Deployment windows at admission: what is denied while closed, the exact messages, and break-glass. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { checkDeploymentWindows } from "../../../src/admission/rules/deployment-window.ts";
import type { AdmissionInput, KubeObject } from "../../../src/admission/rule.ts";
import { recordBreakGlassUse } from "../../../src/policy/break-glass.ts";
import { windowMetrics } from "../../../src/policy/window-metrics.ts";
import { windowPolicySchema } from "../../../src/policy/windows.ts";
import { capturingLogger } from "../../support/quiet-logger.ts";

const policy = windowPolicySchema.parse({
  windows: [
    { name: "year-end-freeze", kind: "deny", timeZone: "Europe/Berlin", ranges: [{ start: "2026-12-19", end: "2027-01-04T06:00" }], freeze: true },
    { name: "business-hours", kind: "allow", schedule: "0 9 * * 1-5", duration: "8h", timeZone: "Europe/Berlin", match: { tenants: ["dev-team"] }, manualReconcile: true },
    { name: "prod-nights", kind: "deny", schedule: "0 22 * * *", duration: "8h", match: { labels: { matchLabels: { tier: "prod" } } } },
  ],
  breakGlass: { groups: ["platform-oncall"], users: ["root@example.com"] },
});

const CHRISTMAS = new Date("2026-12-24T10:00:00Z");
const SATURDAY = new Date("2026-03-28T12:00:00Z");
const MONDAY_NOON = new Date("2026-03-30T10:00:00Z");

const ks = (spec: Record<string, unknown> = {}, metadata: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "web", namespace: "apps", ...metadata },
  spec: { interval: "10m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "repo" }, ...spec },
});

const jane = { username: "jane@example.com", groups: ["developers", "system:authenticated"] };

const update = (oldObject: KubeObject, object: KubeObject, now: Date, user = jane, dryRun = false): AdmissionInput => ({
  operation: "UPDATE",
  object,
  oldObject,
  kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: object.kind },
  namespace: "apps",
  user,
  dryRun,
  now,
});
const create = (object: KubeObject, now: Date): AdmissionInput => ({ ...update(object, object, now), operation: "CREATE", oldObject: undefined });

const messages = (input: AdmissionInput, tenant: string | undefined = "dev-team") => checkDeploymentWindows(input, { policy, tenant }).violations.map((v) => [v.path, v.message]);

describe("the deployment-window admission rule", () => {
  it("denies a spec change while a deny window is in force, naming it and when changes are allowed again", () => {
    const r = checkDeploymentWindows(update(ks(), ks({ path: "./apps/v2" }), CHRISTMAS), { policy, tenant: "dev-team" });
    assert.deepEqual(r, {
      violations: [
        {
          rule: "deployment-window",
          path: "spec",
          message:
            'spec: changes to Kustomization apps/web are not allowed while deployment window "year-end-freeze" (deny) is in force; allowed again at 2027-01-04 09:00 Europe/Berlin (2027-01-04T08:00:00Z)',
        },
      ],
      auditAnnotations: {},
    });
    // Without the tenant's business hours, changes may go as soon as the freeze ends.
    assert.deepEqual(messages(update(ks(), ks({ path: "./apps/v2" }), CHRISTMAS), "ops"), [
      ["spec", 'spec: changes to Kustomization apps/web are not allowed while deployment window "year-end-freeze" (deny) is in force; allowed again at 2027-01-04 06:00 Europe/Berlin (2027-01-04T05:00:00Z)'],
    ]);
  });

  it("denies a spec change outside the tenant's allow window", () => {
    assert.deepEqual(messages(update(ks(), ks({ path: "./apps/v2" }), SATURDAY)), [
      ["spec", 'spec: changes to Kustomization apps/web are not allowed outside deployment window "business-hours" (allow); allowed again at 2026-03-30 09:00 Europe/Berlin (2026-03-30T07:00:00Z)'],
    ]);
    assert.deepEqual(messages(update(ks(), ks({ path: "./apps/v2" }), MONDAY_NOON)), []);
  });

  it("denies creating an object while closed, but lets it be created suspended", () => {
    assert.deepEqual(messages(create(ks(), SATURDAY)), [
      ["spec", 'spec: creating Kustomization apps/web is not allowed outside deployment window "business-hours" (allow); allowed again at 2026-03-30 09:00 Europe/Berlin (2026-03-30T07:00:00Z)'],
    ]);
    assert.deepEqual(messages(create(ks({ suspend: true }), SATURDAY)), []);
  });

  it("always allows suspending, and denies resuming while closed", () => {
    assert.deepEqual(messages(update(ks(), ks({ suspend: true }), SATURDAY)), []);
    assert.deepEqual(messages(update(ks({ suspend: false }), ks({ suspend: true }), SATURDAY)), []);
    const r = checkDeploymentWindows(update(ks({ suspend: true }), ks({ suspend: false }), SATURDAY), { policy, tenant: "dev-team" });
    assert.deepEqual(r.violations, [
      {
        rule: "deployment-window",
        path: "spec.suspend",
        value: false,
        message: 'spec.suspend: resuming Kustomization apps/web is not allowed outside deployment window "business-hours" (allow); allowed again at 2026-03-30 09:00 Europe/Berlin (2026-03-30T07:00:00Z)',
      },
    ]);
    assert.deepEqual(messages(update(ks({ suspend: true }), ks(), SATURDAY)).map(([p]) => p), ["spec.suspend"], "removing suspend: true resumes too");
    assert.deepEqual(messages(update(ks({ suspend: true }), ks({ suspend: true, path: "./v2" }), SATURDAY)).map(([p]) => p), ["spec"], "editing a suspended object is a spec change");
  });

  it("denies manual reconcile requests unless the closing windows allow them", () => {
    const requested = (key: string, value: string) => ks({}, { annotations: { [key]: value } });
    assert.deepEqual(messages(update(ks(), requested("reconcile.fluxcd.io/requestedAt", "2026-12-24T10:00:00Z"), CHRISTMAS)), [
      [
        'metadata.annotations["reconcile.fluxcd.io/requestedAt"]',
        'metadata.annotations["reconcile.fluxcd.io/requestedAt"]: manual reconcile requests for Kustomization apps/web are not allowed while deployment window "year-end-freeze" (deny) is in force; allowed again at 2027-01-04 06:00 Europe/Berlin (2027-01-04T05:00:00Z)',
      ],
    ]);
    // business-hours has manualReconcile: true, so `flux reconcile` works on a Saturday.
    assert.deepEqual(messages(update(ks(), requested("reconcile.fluxcd.io/requestedAt", "1774699200"), SATURDAY)), []);
    const forced = ks({}, { annotations: { "reconcile.fluxcd.io/requestedAt": "a", "reconcile.fluxcd.io/forceAt": "b" } });
    const before = ks({}, { annotations: { "reconcile.fluxcd.io/requestedAt": "a" } });
    assert.deepEqual(messages(update(before, forced, CHRISTMAS)).map(([p]) => p), ['metadata.annotations["reconcile.fluxcd.io/forceAt"]']);
    assert.deepEqual(messages(update(before, ks(), CHRISTMAS)), [], "removing the annotation requests nothing");
  });

  it("reports a spec change and a reconcile request in one request separately", () => {
    const both = ks({ path: "./v2" }, { annotations: { "reconcile.fluxcd.io/requestedAt": "x" } });
    assert.deepEqual(messages(update(ks(), both, CHRISTMAS)).map(([p]) => p), ["spec", 'metadata.annotations["reconcile.fluxcd.io/requestedAt"]']);
  });

  it("lets metadata-only changes, deletions and requests in open windows through", () => {
    assert.deepEqual(messages(update(ks(), ks({}, { labels: { team: "web" }, annotations: { note: "x" } }), CHRISTMAS)), []);
    assert.deepEqual(messages({ ...update(ks(), ks(), CHRISTMAS), operation: "DELETE", object: undefined }), []);
    assert.deepEqual(checkDeploymentWindows(update(ks(), ks({ path: "./v2" }), CHRISTMAS), { policy: windowPolicySchema.parse({}) }), { violations: [], auditAnnotations: {} });
  });

  it("matches label selectors before and after the change, so relabelling does not escape a window", () => {
    const night = new Date("2026-06-01T23:00:00Z");
    const prod = ks({}, { labels: { tier: "prod" } });
    assert.deepEqual(messages(update(prod, ks({ path: "./v2" }, { labels: { tier: "dev" } }), night), "ops"), [
      ["spec", 'spec: changes to Kustomization apps/web are not allowed while deployment window "prod-nights" (deny) is in force; allowed again at 2026-06-02 06:00 UTC (2026-06-02T06:00:00Z)'],
    ]);
    assert.deepEqual(messages(update(ks(), ks({ path: "./v2" }), night), "ops"), []);
  });
});

describe("break-glass", () => {
  const oncall = { username: "sam@example.com", groups: ["platform-oncall", "system:authenticated"] };
  const withReason = ks({ path: "./hotfix" }, { annotations: { "fluxgate.io/break-glass-reason": "INC-4711 payment outage" } });

  it("lets a member of a break-glass group change a closed object, with audit annotations and a record", () => {
    const r = checkDeploymentWindows(update(ks(), withReason, CHRISTMAS, oncall), { policy, tenant: "dev-team" });
    assert.deepEqual(r, {
      violations: [],
      auditAnnotations: { "break-glass-user": "sam@example.com", "break-glass-windows": "year-end-freeze", "break-glass-reason": "INC-4711 payment outage" },
      breakGlass: {
        user: "sam@example.com",
        grant: { via: "group", name: "platform-oncall" },
        windows: ["year-end-freeze"],
        changes: ["change"],
        object: { kind: "Kustomization", namespace: "apps", name: "web" },
        operation: "UPDATE",
        tenant: "dev-team",
        reason: "INC-4711 payment outage",
        dryRun: false,
      },
    });
  });

  it("lets a named user through without a reason when none is required", () => {
    const r = checkDeploymentWindows(update(ks(), ks({ path: "./v2" }), SATURDAY, { username: "root@example.com", groups: [] }), { policy, tenant: "dev-team" });
    assert.deepEqual(r.auditAnnotations, { "break-glass-user": "root@example.com", "break-glass-windows": "business-hours" });
    assert.deepEqual(r.breakGlass?.grant, { via: "user", name: "root@example.com" });
  });

  it("asks for a reason when the policy requires one", () => {
    const strict = { ...policy, breakGlass: { ...policy.breakGlass, requireReason: true } };
    const r = checkDeploymentWindows(update(ks(), ks({ path: "./v2" }), CHRISTMAS, oncall), { policy: strict, tenant: "dev-team" });
    assert.deepEqual(r, {
      violations: [
        {
          rule: "deployment-window",
          path: 'metadata.annotations["fluxgate.io/break-glass-reason"]',
          message:
            'metadata.annotations["fluxgate.io/break-glass-reason"]: break-glass needs a reason while Kustomization apps/web is closed: set this annotation (a ticket or incident) with the change; without break-glass the change is not allowed while deployment window "year-end-freeze" (deny) is in force; allowed again at 2027-01-04 09:00 Europe/Berlin (2027-01-04T08:00:00Z)',
        },
      ],
      auditAnnotations: {},
    });
    assert.equal(checkDeploymentWindows(update(ks(), withReason, CHRISTMAS, oncall), { policy: strict, tenant: "dev-team" }).violations.length, 0);
  });

  it("logs and counts a use, but not a dry run", async () => {
    const registry = new Registry();
    const metrics = windowMetrics(registry);
    const { log, lines } = capturingLogger();
    const real = checkDeploymentWindows(update(ks(), withReason, CHRISTMAS, oncall), { policy, tenant: "dev-team" }).breakGlass;
    const dry = checkDeploymentWindows(update(ks(), withReason, CHRISTMAS, oncall, true), { policy, tenant: "dev-team" }).breakGlass;
    assert.ok(real !== undefined && dry !== undefined);
    assert.equal(dry.dryRun, true, "a dry run is judged the same");
    assert.equal(recordBreakGlassUse(dry, { log, metrics }), false);
    assert.equal(recordBreakGlassUse(real, { log, metrics }), true);
    assert.deepEqual((await metrics.breakGlassUses.get()).values.map((v) => [v.labels, v.value]), [[{ window: "year-end-freeze", tenant: "dev-team" }, 1]]);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l.user, l.grantedBy, l.windows, l.objectNamespace, l.objectName, l.reason]),
      [["warn", "break-glass: change allowed while its deployment window is closed", "sam@example.com", "group platform-oncall", ["year-end-freeze"], "apps", "web", "INC-4711 payment outage"]],
    );
  });

  it("does nothing special for break-glass users while windows are open", () => {
    assert.deepEqual(checkDeploymentWindows(update(ks(), ks({ path: "./v2" }), MONDAY_NOON, oncall), { policy, tenant: "dev-team" }), { violations: [], auditAnnotations: {} });
  });
});
