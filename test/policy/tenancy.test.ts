import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";
import { DEFAULT_EXEMPT_SERVICE_ACCOUNTS, policySchema, ruleModeFor } from "../../src/policy/tenancy.ts";

/** `path: message` of every issue, for exact assertions. */
function problems(input: unknown): string[] {
  const r = policySchema.safeParse(input);
  if (r.success) return [];
  return r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

/** The commented flux2-multi-tenancy example of deploy/fluxgate.example.yaml, uncommented. */
function exampleTenants(): unknown {
  const text = readFileSync(join(import.meta.dirname, "..", "..", "deploy", "fluxgate.example.yaml"), "utf8");
  const start = text.indexOf("  # tenants:\n");
  assert.notEqual(start, -1);
  const block = text
    .slice(start)
    .split("\n")
    .filter((l) => l.startsWith("  #"))
    .map((l) => l.slice(4))
    .join("\n");
  return load(block);
}

describe("policySchema", () => {
  it("makes an empty policy valid: every rule enforced, the Flux controllers and Fluxgate exempt, no tenants", () => {
    assert.deepEqual(policySchema.parse({}), {
      rules: {
        "cross-namespace-refs": "enforce",
        "service-account": "enforce",
        "remote-kubeconfig": "enforce",
        "source-url": "enforce",
        "target-namespace": "enforce",
        "semver-range": "enforce",
        "deployment-window": "enforce",
      },
      exemptions: { users: [], groups: [], serviceAccounts: DEFAULT_EXEMPT_SERVICE_ACCOUNTS, namespaces: [] },
      tenants: [],
      windows: [],
      breakGlass: { users: [], groups: [], requireReason: false },
    });
  });

  it("fills a tenant's defaults: nothing beyond its own namespaces, no sources, no remote clusters", () => {
    const [tenant] = policySchema.parse({ tenants: [{ name: "dev-team", namespaces: ["apps"], serviceAccountName: "dev-team" }] }).tenants;
    assert.deepEqual(tenant, {
      name: "dev-team",
      namespaces: ["apps"],
      serviceAccountName: "dev-team",
      allowedServiceAccountNames: [],
      sources: { urls: [], allowInsecure: false },
      targetNamespaces: [],
      allowCreateNamespace: false,
      crossNamespaceRefs: [],
      allowKubeConfig: false,
      versions: { charts: [] },
      rules: {},
    });
  });

  it("reads the commented flux2-multi-tenancy example of deploy/fluxgate.example.yaml", () => {
    const policy = policySchema.parse(exampleTenants());
    assert.deepEqual(policy.tenants[0], {
      name: "dev-team",
      namespaces: ["apps"],
      namespaceSelector: { matchLabels: { "toolkit.fluxcd.io/tenant": "dev-team" }, matchExpressions: [] },
      serviceAccountName: "dev-team",
      allowedServiceAccountNames: [],
      sources: { urls: ["https://github.com/fluxcd/flux2-multi-tenancy", "https://stefanprodan.github.io/podinfo", "ghcr.io/stefanprodan/charts/*"], allowInsecure: false },
      crossNamespaceRefs: [{ namespace: "flux-system", kind: "HelmRepository" }],
      targetNamespaces: [],
      allowCreateNamespace: false,
      allowKubeConfig: false,
      versions: { charts: [{ name: "podinfo", range: "6.x" }], flux: "2.x" },
      rules: { "source-url": "audit" },
    });
  });

  it("requires a tenant's name and service account, and rejects unknown keys", () => {
    assert.deepEqual(problems({ tenants: [{ namespaces: ["apps"], serviceAcount: "x" }] }), [
      "tenants.0.name: Invalid input: expected string, received undefined",
      "tenants.0.serviceAccountName: Invalid input: expected string, received undefined",
      "tenants.0: Unrecognized key: \"serviceAcount\"",
    ]);
  });

  it("rejects a namespace claimed by two tenants, a tenant defined twice and an unknown default tenant", () => {
    const tenant = (name: string, namespaces: string[]) => ({ name, namespaces, serviceAccountName: name });
    assert.deepEqual(problems({ tenants: [tenant("a", ["apps"]), tenant("b", ["apps"]), tenant("a", [])], defaultTenant: "c" }), [
      'tenants.1.namespaces.0: namespace "apps" already belongs to tenant "a"',
      'tenants.2.name: tenant "a" is defined twice',
      'defaultTenant: no tenant is named "c"; expected one of the tenants\' names',
    ]);
  });

  it("rejects modes, ranges, selectors and exempt service accounts it cannot use", () => {
    assert.deepEqual(
      problems({
        rules: { "source-url": "warn" },
        exemptions: { serviceAccounts: ["kustomize-controller"] },
        tenants: [{ name: "a", serviceAccountName: "a", namespaceSelector: {}, versions: { charts: [{ name: "podinfo", range: "latest" }] } }],
      }),
      [
        'rules.source-url: expected "enforce" (deny) or "audit" (allow with a warning)',
        'exemptions.serviceAccounts.0: expected "namespace:name" or "namespace:*"',
        "tenants.0.namespaceSelector: an empty selector would match every namespace; give matchLabels or matchExpressions",
        'tenants.0.versions.charts.0.range: expected a semver range like "6.x", ">=1.2.0 <2" or "~2.9"',
      ],
    );
  });

  it("is the configuration file's `policy:` key, defaulting to the empty policy, with mistakes reported by line", () => {
    assert.deepEqual(parseConfig("", "fluxgate.yaml").policy, policySchema.parse({}));
    const text = ["policy:", "  tenants:", "    - name: dev-team", "      serviceAccountName: dev-team", "      allowKubeconfig: true"].join("\n");
    assert.throws(() => parseConfig(text, "fluxgate.yaml"), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => `${i.line} ${i.path}`), ["5 policy.tenants[0].allowKubeconfig"]);
      return true;
    });
  });
});

describe("ruleModeFor", () => {
  it("takes the tenant's mode for a rule before the policy's", () => {
    const policy = policySchema.parse({ rules: { "source-url": "audit" }, tenants: [{ name: "a", serviceAccountName: "a", rules: { "semver-range": "audit" } }] });
    const tenant = policy.tenants[0] ?? assert.fail();
    assert.deepEqual(
      [ruleModeFor(policy, tenant, "source-url"), ruleModeFor(policy, tenant, "semver-range"), ruleModeFor(policy, tenant, "service-account")],
      ["audit", "audit", "enforce"],
    );
  });
});
