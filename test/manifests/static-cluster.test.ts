import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isConfigError } from "../../src/errors.ts";
import type { ConfigError } from "../../src/errors.ts";
import { loadStaticCluster, policyConflicts, staticPolicy } from "../../src/manifests/static-cluster.ts";
import { policySchema } from "../../src/policy/tenancy.ts";
import { webhookPath } from "../../src/webhooks/receiver-index.ts";

const ROOT = join(import.meta.dirname, "..", "..");

const RECEIVER = (secret: string, resources = "[{kind: GitRepository, name: web}]") => `apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: hook, namespace: apps}
spec: {type: github, secretRef: {name: ${secret}}, resources: ${resources}}
`;

describe("a cluster read from manifests", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-static-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Writes `files` into a fresh folder and loads it, returning the issues when it fails. */
  const load = async (name: string, files: Record<string, string>) => {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) await writeFile(join(d, f), text);
    try {
      return { cluster: await loadStaticCluster(d, dir) };
    } catch (e) {
      assert.ok(isConfigError(e), `a ConfigError, got ${String(e)}`);
      return { issues: (e as ConfigError).issues.map((i) => `${i.path}:${i.line ?? "-"}: ${i.message}`) };
    }
  };

  it("reads the trial example: its Flux objects, the Receiver with its Secret, the FluxgatePolicy", async () => {
    const cluster = await loadStaticCluster(join(ROOT, "examples/trial"), ROOT);
    assert.deepEqual(cluster.inventory.map((o) => `${o.kind}/${o.namespace}/${o.name}`).sort(), ["GitRepository/team-a/app", "GitRepository/team-a/app-releases", "Kustomization/team-a/app", "Receiver/team-a/github"]);
    assert.deepEqual(cluster.receivers.map((r) => [r.namespace, r.name, r.type, r.path, r.source]), [["team-a", "github", "github", webhookPath("trial-token", "github", "team-a"), "manifests"]]);
    assert.deepEqual(cluster.policies.map((p) => p.name), ["trial"]);
    const policy = staticPolicy(cluster, policySchema.parse({}))(policySchema.parse({}));
    assert.deepEqual(policy.tenants.map((t) => t.name), ["team-a"]);
    assert.deepEqual(policy.windows.map((w) => w.name), ["no-weekend-deploys"]);
  });

  it("takes Secret data as base64 or stringData, objects without a namespace in default, Namespaces with labels, and counts other kinds", async () => {
    const { cluster } = await load("ok", {
      "a.yaml": `${RECEIVER("tok")}---\napiVersion: v1\nkind: Secret\nmetadata: {name: tok, namespace: apps}\ndata: {token: ${Buffer.from("b64-token").toString("base64")}}\n`,
      "b.yml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: web}\nspec: {url: https://github.com/org/web}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {team: a}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
    });
    assert.equal(cluster?.receivers[0]?.path, webhookPath("b64-token", "hook", "apps"));
    assert.ok(cluster?.inventory.some((o) => o.kind === "GitRepository" && o.namespace === "default"));
    assert.deepEqual([...(cluster?.namespaces ?? [])], [["apps", { team: "a" }]], "namespaces with their labels, for tenants' namespaceSelector");
    assert.equal(cluster?.ignored, 1, "the Deployment");
  });

  it("names the file and line of every problem, all at once", async () => {
    const { issues } = await load("bad", {
      "1-yaml.yaml": "kind: [unclosed\n",
      "2-receiver.yaml": RECEIVER("missing"),
      "3-wildcard.yaml": `---\n${RECEIVER("tok", "[{kind: GitRepository, name: '*'}]").replace("name: hook", "name: wild")}---\napiVersion: v1\nkind: Secret\nmetadata: {name: tok, namespace: apps}\nstringData: {token: t}\n`,
      "4-policy.yaml": "apiVersion: fluxgate.io/v1alpha1\nkind: FluxgatePolicy\nmetadata: {name: p}\nspec: {tenants: [{name: x}]}\n",
      "5-dup.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a, namespace: n}\nspec: {url: https://x/y}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a, namespace: n}\nspec: {url: https://x/y}\n",
      "6-notobject.yaml": "just: a map\n",
    });
    assert.ok(issues !== undefined);
    const text = issues.join("\n");
    assert.match(text, /bad\/1-yaml\.yaml:\d: not valid YAML/);
    assert.match(text, /bad\/2-receiver\.yaml:1: Receiver apps\/hook: Secret apps\/missing is not in bad/);
    assert.match(text, /bad\/3-wildcard\.yaml:2: Receiver apps\/wild: spec\.resources\[0\]: name "\*" needs matchLabels/);
    assert.match(text, /bad\/4-policy\.yaml:1: FluxgatePolicy p: spec\.tenants\[0\]\.serviceAccountName: /);
    assert.match(text, /bad\/5-dup\.yaml:6: GitRepository\/n\/a is also defined at bad\/5-dup\.yaml:1/);
    assert.match(text, /bad\/6-notobject\.yaml:1: not a Kubernetes object: needs apiVersion, kind and metadata.name as strings; wrong or missing: apiVersion, kind, metadata$/m);
    assert.equal(issues.length, 6, text);
  });

  it("a folder with no YAML, or none at all, is an error", async () => {
    assert.match((await load("empty", { "notes.txt": "hi" })).issues?.join() ?? "", /holds no YAML files/);
    await assert.rejects(loadStaticCluster(join(dir, "does-not-exist"), dir), (e: unknown) => isConfigError(e) && /does-not-exist/.test((e as Error).message));
  });

  it("reports policies that clash with the configuration's", async () => {
    const cluster = await loadStaticCluster(join(ROOT, "examples/trial"), ROOT);
    const base = policySchema.parse({ tenants: [{ name: "team-a", namespaces: ["team-a"], serviceAccountName: "team-a" }] });
    assert.deepEqual(policyConflicts(base, cluster.policies).length, 1);
    assert.match(policyConflicts(base, cluster.policies)[0] ?? "", /^FluxgatePolicy trial: .*tenant "team-a" is already defined by the configuration file/);
    assert.deepEqual(policyConflicts(policySchema.parse({}), cluster.policies), []);
    assert.throws(() => staticPolicy(cluster, base), (e: unknown) => isConfigError(e) && /FluxgatePolicy trial: .*tenant "team-a" is already defined/.test((e as Error).message));
  });
});
