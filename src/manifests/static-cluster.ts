/**
 * A cluster read from manifests on disk, for `fluxgate serve --manifests DIR`: the Flux objects the worker targets,
 * the Flux `Receiver`s served with their `Secret`s, and `FluxgatePolicy` objects merged into the policy — what a
 * cluster would give, for trying Fluxgate (and its worker as a dry run) without one. Read once, at start; every
 * problem is reported with its file and line, and none is skipped silently.
 */
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { z } from "zod";
import { ManifestError, manifestFiles, parseManifests } from "../admission/manifests.ts";
import type { ManifestDocument } from "../admission/manifests.ts";
import { inventoryObject, objectRefKey } from "../apply/inventory-object.ts";
import type { InventoryObject } from "../apply/inventory-object.ts";
import { ConfigError } from "../errors.ts";
import type { ConfigIssue } from "../errors.ts";
import { findFluxKind } from "../flux/kinds.ts";
import { kubeObjectSchema } from "../kube/object.ts";
import type { KubeObject } from "../kube/object.ts";
import { FLUXGATE_POLICY, mergePolicies, parseClusterPolicy } from "../policy/cluster-policies.ts";
import type { ClusterPolicySource } from "../policy/cluster-policies.ts";
import type { Policy } from "../policy/tenancy.ts";
import { fluxReceiverEntry } from "../webhooks/cluster-receivers.ts";
import type { Receiver } from "../webhooks/receiver-index.ts";

export type StaticCluster = {
  dir: string;
  /** The Flux objects, as the inventory sees them. */
  inventory: InventoryObject[];
  /** Flux Receivers that can be served (each has a Secret with a `token`). */
  receivers: Receiver[];
  /** FluxgatePolicy objects, to merge into the configuration's policy. */
  policies: ClusterPolicySource[];
  /** Namespaces defined there, with their labels (tenants may own namespaces by label). */
  namespaces: Map<string, Record<string, string> | undefined>;
  /** Objects of other kinds (Deployments …), counted only. */
  ignored: number;
};

/** kubectl's namespace for a namespaced object that names none (there is no context here to take one from). */
const DEFAULT_NAMESPACE = "default";

const secretSchema = z.looseObject({
  data: z.record(z.string(), z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "expected base64")).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});

type Located = { object: KubeObject; file: string; line: number };

/**
 * Reads every YAML file under `dir`.
 * @throws ConfigError naming each file:line that cannot be used (bad YAML, an object without kind or name, an
 *   invalid FluxgatePolicy, a Receiver whose Secret is missing or has no token)
 * @example const cluster = await loadStaticCluster("examples/trial", process.cwd())
 */
export async function loadStaticCluster(dir: string, cwd: string): Promise<StaticCluster> {
  const issues: ConfigIssue[] = [];
  const problem = (file: string, line: number | undefined, message: string) => issues.push({ path: relative(cwd, file) || file, message, ...(line === undefined ? {} : { line }) });
  const listing = await manifestFiles([dir], cwd);
  for (const e of listing.errors) problem(e.file, e.line, e.detail);

  const located: Located[] = [];
  for (const file of listing.files) {
    let docs: ManifestDocument[];
    try {
      docs = parseManifests(await readFile(file, "utf8"), file);
    } catch (e) {
      if (e instanceof ManifestError) problem(file, e.line, e.detail);
      else problem(file, undefined, `cannot read: ${(e as Error).message}`);
      continue;
    }
    for (const doc of docs) {
      if (doc.value === null) continue;
      const parsed = kubeObjectSchema.safeParse(doc.value);
      if (!parsed.success) {
        const missing = parsed.error.issues.map((i) => i.path.join(".") || "(the document is not a mapping)");
        problem(file, doc.line, `not a Kubernetes object: needs apiVersion, kind and metadata.name as strings; wrong or missing: ${missing.join(", ")}`);
        continue;
      }
      located.push({ object: parsed.data, file, line: doc.line });
    }
  }

  const namespaced = (o: KubeObject): KubeObject => (o.metadata.namespace === undefined ? { ...o, metadata: { ...o.metadata, namespace: DEFAULT_NAMESPACE } } : o);
  const secrets = new Map<string, Record<string, string> | string>();
  for (const { object, file, line } of located) {
    if (object.kind !== "Secret" || object.apiVersion !== "v1") continue;
    const o = namespaced(object);
    const parsed = secretSchema.safeParse(o);
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    if (!parsed.success) {
      problem(file, line, `Secret ${key}: ${parsed.error.issues.map((i) => `${["", ...i.path].join(".")}: ${i.message}`).join("; ")}`);
      secrets.set(key, `Secret ${key} is not valid`);
      continue;
    }
    const data = Object.fromEntries(Object.entries(parsed.data.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    secrets.set(key, { ...data, ...parsed.data.stringData });
  }

  const inventory: InventoryObject[] = [];
  const receivers: Receiver[] = [];
  const policies: ClusterPolicySource[] = [];
  const seen = new Map<string, string>();
  const namespaces = new Map<string, Record<string, string> | undefined>();
  let ignored = 0;
  for (const { object, file, line } of located) {
    const where = `${relative(cwd, file) || file}:${line}`;
    if (object.kind === FLUXGATE_POLICY.kind && object.apiVersion === `${FLUXGATE_POLICY.group}/${FLUXGATE_POLICY.version}`) {
      const r = parseClusterPolicy(object);
      if ("outcome" in r) problem(file, line, `FluxgatePolicy ${object.metadata.name}: ${r.outcome.message}`);
      else policies.push(r.source);
      continue;
    }
    if (object.kind === "Namespace" && object.apiVersion === "v1") {
      namespaces.set(object.metadata.name, object.metadata.labels);
      continue;
    }
    const kind = findFluxKind(object.kind);
    if (kind === undefined || !object.apiVersion.startsWith(`${kind.group}/`)) {
      if (object.kind !== "Secret") ignored++;
      continue;
    }
    const o = namespaced(object);
    const id = objectRefKey({ kind: kind.kind, namespace: o.metadata.namespace ?? DEFAULT_NAMESPACE, name: o.metadata.name });
    const before = seen.get(id);
    if (before !== undefined) {
      problem(file, line, `${id} is also defined at ${before}`);
      continue;
    }
    seen.set(id, where);
    let item: InventoryObject | undefined;
    try {
      item = inventoryObject(o);
    } catch (e) {
      problem(file, line, `${id}: ${e instanceof z.ZodError ? e.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") : (e as Error).message}`);
      continue;
    }
    if (item?.spec.type === "receiver" && item.spec.problems.length > 0) problem(file, line, `Receiver ${o.metadata.namespace}/${o.metadata.name}: ${item.spec.problems.join("; ")}`);
    if (item !== undefined) inventory.push(item);
    if (kind.kind === "Receiver") {
      const ref = (o as { spec?: { secretRef?: { name?: unknown } } }).spec?.secretRef?.name;
      const secret = typeof ref === "string" ? secrets.get(`${o.metadata.namespace}/${ref}`) : undefined;
      const entry = fluxReceiverEntry(o, secret === undefined && typeof ref === "string" ? `Secret ${o.metadata.namespace}/${ref} is not in ${relative(cwd, dir) || dir}` : secret, "manifests");
      if (typeof entry === "string") problem(file, line, `Receiver ${o.metadata.namespace}/${o.metadata.name}: ${entry}`);
      else receivers.push(entry);
    }
  }
  if (listing.files.length === 0 && listing.errors.length === 0) problem(dir, undefined, "holds no YAML files");
  if (issues.length > 0) throw new ConfigError(dir, issues);
  return { dir, inventory, receivers, policies, namespaces, ignored };
}

/**
 * The FluxgatePolicies that cannot be merged into `base` (they clash with it or with each other), as messages;
 * a cluster reports them in each object's status, a directory of manifests at start.
 */
export function policyConflicts(base: Policy, sources: readonly ClusterPolicySource[]): string[] {
  return mergePolicies(base, sources).outcomes.filter((o) => o.reason !== "Accepted").map((o) => `FluxgatePolicy ${o.name}: ${o.message}`);
}

/**
 * The configuration's policy with the manifests' FluxgatePolicies merged in, recomputed only when the base changes.
 * @throws ConfigError naming the manifests' folder when a FluxgatePolicy there clashes with `base` or another one
 * @example const policyOf = staticPolicy(cluster, config.policy); policyOf(config.policy)
 */
export function staticPolicy(cluster: Pick<StaticCluster, "dir" | "policies">, base: Policy): (base: Policy) => Policy {
  const conflicts = policyConflicts(base, cluster.policies);
  if (conflicts.length > 0) throw new ConfigError(cluster.dir, conflicts.map((message) => ({ path: "", message })));
  let last: { base: Policy; policy: Policy } | undefined;
  return (current) => {
    if (last?.base !== current) last = { base: current, policy: mergePolicies(current, cluster.policies).policy };
    return last.policy;
  };
}
