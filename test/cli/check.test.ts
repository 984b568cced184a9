import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.ts";

const EXAMPLES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "flux", "examples");
const TENANCY = join(EXAMPLES, "flux2-multi-tenancy");
const HELM = join(EXAMPLES, "flux2-kustomize-helm-example");

/** flux2-multi-tenancy's layout as a policy: the dev-team tenant found by its Namespace label. */
const TENANCY_POLICY = `policy:
  exemptions:
    namespaces: [flux-system]
  tenants:
    - name: dev-team
      namespaceSelector:
        matchLabels: {toolkit.fluxcd.io/tenant: dev-team}
      serviceAccountName: dev-team
      sources:
        urls: [https://github.com/fluxcd/flux2-multi-tenancy]
`;

/** The same tenant, stricter than the repository: its own org's sources, another service account. */
const STRICT_POLICY = TENANCY_POLICY.replace("serviceAccountName: dev-team", "serviceAccountName: dev-team-reconciler").replace(
  "urls: [https://github.com/fluxcd/flux2-multi-tenancy]",
  "urls: [https://github.com/my-org/*]",
);

/** podinfo as a tenant: OCI charts only, service accounts in audit mode. */
const HELM_POLICY = `policy:
  exemptions:
    namespaces: [flux-system]
  tenants:
    - name: apps-team
      namespaces: [podinfo]
      serviceAccountName: podinfo
      sources:
        urls: ["oci://ghcr.io/stefanprodan/charts/*"]
      rules: {service-account: audit}
`;

type Run = { code: number; out: string; err: string };

describe("fluxgate check", () => {
  let dir: string;
  const file = (name: string) => join(dir, name);

  async function run(cwd: string, ...args: string[]): Promise<Run> {
    let out = "";
    let err = "";
    const code = await main(["check", ...args], { out: (t) => (out += t), err: (t) => (err += t), env: {}, cwd });
    return { code, out, err };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-check-"));
    await writeFile(file("tenancy.yaml"), TENANCY_POLICY);
    await writeFile(file("strict.yaml"), STRICT_POLICY);
    await writeFile(file("helm.yaml"), HELM_POLICY);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 0 for flux2-multi-tenancy under its own policy, skipping non-Flux documents and kustomize patches", async () => {
    assert.deepEqual(await run(TENANCY, ".", "--config", file("tenancy.yaml")), {
      code: 0,
      out: "10 Flux objects in 19 files: 0 denied, 0 with warnings only, 2 allowed, 8 exempt; skipped 12 other documents and 2 kustomize patch files\n",
      err: "",
    });
  });

  it("exits 1 and names file:line, object, message and rule for each violation", async () => {
    assert.deepEqual(await run(TENANCY, "clusters", "tenants", "--config", file("strict.yaml")), {
      code: 1,
      out: [
        'tenants/base/dev-team/sync.yaml:8: GitRepository apps/dev-team: spec.url: "https://github.com/fluxcd/flux2-multi-tenancy" (github.com/fluxcd/flux2-multi-tenancy) is not an allowed source; tenant "dev-team" may use only "https://github.com/my-org/*" [source-url]',
        'tenants/base/dev-team/sync.yaml:18: Kustomization apps/dev-team: spec.serviceAccountName: "dev-team" is not a service account of the tenant; tenant "dev-team" may use only "dev-team-reconciler" [service-account]',
        "8 Flux objects in 13 files: 2 denied (2 violations), 0 with warnings only, 0 allowed, 6 exempt; skipped 8 other documents and 2 kustomize patch files",
        "",
      ].join("\n"),
      err: "",
    });
  });

  it("reports audit-mode findings without failing on them, at the line of the nearest field (flux2-kustomize-helm-example)", async () => {
    assert.deepEqual(await run(HELM, ".", "-c", file("helm.yaml")), {
      code: 1,
      out: [
        `apps/base/podinfo/release.yaml:6: HelmRelease podinfo/podinfo: spec.serviceAccountName: not set, so the controller's default service account would apply; tenant "apps-team" may use only "podinfo" [service-account, audit]`,
        'apps/base/podinfo/repository.yaml:8: HelmRepository podinfo/podinfo: spec.url: "https://stefanprodan.github.io/podinfo" (stefanprodan.github.io/podinfo) is not an allowed source; tenant "apps-team" may use only "oci://ghcr.io/stefanprodan/charts/*" [source-url]',
        "14 Flux objects in 22 files: 1 denied (1 violation), 1 with warnings only, 0 allowed, 12 exempt; skipped 13 other documents and 2 kustomize patch files",
        "",
      ].join("\n"),
      err: "",
    });
    const release = await run(HELM, "apps/base/podinfo/release.yaml", "-c", file("helm.yaml"));
    assert.equal(release.code, 0, "warnings alone pass");
  });

  it("judges a kustomize patch file when it is named, and uses Namespace labels from the files given", async () => {
    const r = await run(TENANCY, "tenants/staging/dev-team-patch.yaml", "tenants/base/dev-team/rbac.yaml", "--config", file("strict.yaml"));
    assert.equal(r.code, 1);
    assert.equal(
      r.out.split("\n")[0],
      `tenants/staging/dev-team-patch.yaml:6: Kustomization apps/dev-team: spec.serviceAccountName: not set, so the controller's default service account would apply; tenant "dev-team" may use only "dev-team-reconciler" [service-account]`,
    );
    const alone = await run(TENANCY, "tenants/staging/dev-team-patch.yaml", "--config", file("strict.yaml"));
    assert.deepEqual(alone, { code: 0, out: "1 Flux object in 1 file: 0 denied, 0 with warnings only, 0 allowed, 1 exempt\n", err: "" }, "without the labelled Namespace, apps belongs to no tenant");
  });

  it("creates the objects as --user: an exempt identity passes everything", async () => {
    const r = await run(TENANCY, ".", "--config", file("strict.yaml"), "--user", "system:serviceaccount:flux-system:kustomize-controller");
    assert.equal(r.code, 0);
    assert.equal(r.out, "10 Flux objects in 19 files: 0 denied, 0 with warnings only, 0 allowed, 10 exempt; skipped 12 other documents and 2 kustomize patch files\n");
  });

  it("writes every object and finding as JSON", async () => {
    const r = await run(TENANCY, "tenants/base", "--config", file("strict.yaml"), "--output", "json");
    assert.equal(r.code, 1);
    const report = JSON.parse(r.out) as { summary: unknown; objects: Array<Record<string, unknown>>; errors: unknown[] };
    assert.deepEqual(report.summary, { files: 3, objects: 2, denied: 2, warned: 0, allowed: 0, exempt: 0, violations: 2, warnings: 0, skippedDocuments: 4, skippedPatches: 0, errors: 0 });
    assert.deepEqual(report.objects[1], {
      file: "tenants/base/dev-team/sync.yaml",
      line: 12,
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      namespace: "apps",
      name: "dev-team",
      decision: "denied",
      tenant: "dev-team",
      findings: [
        {
          rule: "service-account",
          path: "spec.serviceAccountName",
          value: "dev-team",
          message: 'spec.serviceAccountName: "dev-team" is not a service account of the tenant; tenant "dev-team" may use only "dev-team-reconciler"',
          mode: "enforce",
          line: 18,
        },
      ],
    });
    assert.deepEqual(report.errors, []);
  });

  it("writes JUnit XML: a testsuite per file, a testcase per object, a failure per denial, skipped for exempt", async () => {
    const r = await run(TENANCY, ".", "--config", file("strict.yaml"), "--output", "junit");
    assert.equal(r.code, 1);
    assertWellFormedXml(r.out);
    assert.match(r.out, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="fluxgate check" tests="10" failures="2" errors="0" skipped="8" time="0">\n/);
    assert.equal(r.out.match(/<testsuite /g)?.length, 7);
    assert.equal(r.out.match(/<testcase /g)?.length, 10);
    assert.equal(r.out.match(/<skipped /g)?.length, 8);
    assert.ok(
      r.out.includes(
        `  <testsuite name="tenants/base/dev-team/sync.yaml" tests="2" failures="2" errors="0" skipped="0" time="0">
    <testcase classname="tenants/base/dev-team/sync.yaml" name="GitRepository apps/dev-team" file="tenants/base/dev-team/sync.yaml" line="1" time="0">
      <failure message="spec.url: &quot;https://github.com/fluxcd/flux2-multi-tenancy&quot; (github.com/fluxcd/flux2-multi-tenancy) is not an allowed source; tenant &quot;dev-team&quot; may use only &quot;https://github.com/my-org/*&quot;" type="source-url">tenants/base/dev-team/sync.yaml:8: spec.url: &quot;https://github.com/fluxcd/flux2-multi-tenancy&quot; (github.com/fluxcd/flux2-multi-tenancy) is not an allowed source; tenant &quot;dev-team&quot; may use only &quot;https://github.com/my-org/*&quot; [source-url]</failure>
    </testcase>`,
      ),
    );
    const helm = await run(HELM, ".", "-c", file("helm.yaml"), "--output", "junit");
    assertWellFormedXml(helm.out);
    assert.ok(helm.out.includes(`<system-out>apps/base/podinfo/release.yaml:6: warning: spec.serviceAccountName: not set, so the controller&apos;s default service account would apply; tenant &quot;apps-team&quot; may use only &quot;podinfo&quot; [service-account, audit]</system-out>`));
  });

  it("exits 2 for unreadable input with the file and line, and still reports what it could read", async () => {
    await mkdir(file("repo"), { recursive: true });
    await writeFile(file("repo/broken.yaml"), "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a\n");
    await writeFile(file("repo/no-meta.yaml"), "# a GitRepository without metadata\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nspec: {url: https://example.com/x}\n");
    const r = await run(dir, "repo", "missing.yaml", "--config", file("strict.yaml"));
    assert.equal(r.code, 2);
    assert.deepEqual(r.err.split("\n"), [
      "fluxgate check: missing.yaml: no such file or directory",
      "fluxgate check: repo/broken.yaml:7: not valid YAML: deficient indentation",
      "fluxgate check: repo/no-meta.yaml:2: GitRepository: not a Kubernetes object: metadata: required (object)",
      "",
    ]);
    assert.equal(r.out, "0 Flux objects in 1 file: 0 denied, 0 with warnings only, 0 allowed, 0 exempt; 3 unreadable inputs\n");
    const junit = await run(dir, "repo", "--config", file("strict.yaml"), "--output", "junit");
    assert.equal(junit.code, 2);
    assertWellFormedXml(junit.out);
    assert.match(junit.out, /<error message="not valid YAML: deficient indentation" type="UnreadableInput">repo\/broken\.yaml:7: /);
  });

  it("exits 2 for a configuration that cannot be used, naming the problem", async () => {
    await writeFile(file("bad.yaml"), "policy:\n  tenants:\n    - name: Dev Team\n");
    const r = await run(TENANCY, ".", "--config", file("bad.yaml"));
    assert.equal(r.code, 2);
    assert.match(r.err, /^fluxgate check: invalid configuration in .*bad\.yaml:\n {2}.*bad\.yaml:3: policy\.tenants\[0\]\.name: expected a Kubernetes name/);
  });

  it("exits 2 for a bad command line", async () => {
    assert.deepEqual(await run(TENANCY), { code: 2, out: "", err: "fluxgate: check: expected at least one file or directory (see 'fluxgate check --help')\n" });
    assert.deepEqual(await run(TENANCY, ".", "--output", "xml"), { code: 2, out: "", err: 'fluxgate: --output: expected one of text, json, junit, got "xml"\n' });
    assert.equal((await run(TENANCY, ".", "--frobnicate")).code, 2);
  });
});

/**
 * A small XML 1.0 well-formedness check (no parser is installed): one root, tags nested and closed in order,
 * attributes quoted and unique, only the five predefined entities or character references, no stray `<` or `&`.
 */
function assertWellFormedXml(text: string): void {
  let rest = text.replace(/^<\?xml [^?]*\?>\s*/, "");
  const stack: string[] = [];
  let roots = 0;
  const NAME = "[A-Za-z_][\\w.-]*";
  const checkText = (t: string) => {
    assert.doesNotMatch(t, /</, `stray < in ${JSON.stringify(t.slice(0, 80))}`);
    assert.doesNotMatch(t.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, ""), /&/, `bad entity in ${JSON.stringify(t.slice(0, 80))}`);
  };
  while (rest.length > 0) {
    const lt = rest.indexOf("<");
    if (lt < 0) {
      assert.equal(rest.trim(), "", "text after the root element");
      break;
    }
    const before = rest.slice(0, lt);
    checkText(before);
    if (stack.length === 0) assert.equal(before.trim(), "", "text outside the root element");
    const tag = new RegExp(`^<(/?)(${NAME})((?:\\s+${NAME}="[^"<]*")*)\\s*(/?)>`).exec(rest.slice(lt));
    assert.ok(tag !== null, `malformed tag at ${JSON.stringify(rest.slice(lt, lt + 60))}`);
    const [whole, closing, name, attrs, selfClosing] = tag as unknown as [string, string, string, string, string];
    const names = [...attrs.matchAll(new RegExp(`(${NAME})="([^"]*)"`, "g"))].map((m) => {
      checkText(m[2] ?? "");
      return m[1];
    });
    assert.equal(new Set(names).size, names.length, `duplicate attribute in <${name}>`);
    if (closing === "/") assert.equal(stack.pop(), name, `</${name}> closes another element`);
    else if (selfClosing !== "/") {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
    rest = rest.slice(lt + whole.length);
  }
  assert.deepEqual(stack, [], "unclosed elements");
  assert.equal(roots, 1, "exactly one root element");
}
