/**
 * Policies as custom resources: the cluster's `FluxgatePolicy` objects (fluxgate.io/v1alpha1, cluster-scoped,
 * `spec` = what `policy:` holds in the configuration file), watched and merged with the file's policy, so the gate
 * picks up a new tenant without a restart. A spec that does not parse, or that conflicts with the file or an older
 * FluxgatePolicy, is left out and reported in its `status.conditions` (Ready=False); it never stops the gate.
 *
 * Merging, in the order objects were created (oldest first, then by name), on top of the file's policy:
 * - `tenants` are added. A tenant name already defined, or a namespace (by name) another tenant owns, is a conflict.
 * - `exemptions`: each list the object sets is joined with the file's (duplicates dropped). Lists it leaves out add
 *   nothing: the default list of Flux service accounts stays the file's business.
 * - `rules`: each mode the object sets replaces the file's; two objects setting different modes for a rule conflict.
 * - `defaultTenant`: only one source (the file or one object) may set it.
 * - `windows` are added; a window name already defined is a conflict.
 * - `breakGlass`: users and groups are joined; `requireReason` holds when any source asks for it.
 * A conflicting object is applied not at all, never in part: Ready=False with reason `Conflict` names what clashed.
 */
import { z } from "zod";
import { isKubeNotFound } from "../errors.ts";
import type { KubeClient } from "../kube/client.ts";
import { createInformer } from "../kube/informer.ts";
import type { KubeObject } from "../kube/object.ts";
import type { ResourceType } from "../kube/resource.ts";
import type { Logger } from "../observability/logger.ts";
import { policySchema } from "./tenancy.ts";
import type { ModedRule, Policy } from "./tenancy.ts";

/** The `FluxgatePolicy` kind (deploy/crds/fluxgate.io_fluxgatepolicies.yaml is generated with these names). */
export const FLUXGATE_POLICY: ResourceType = { group: "fluxgate.io", version: "v1alpha1", kind: "FluxgatePolicy", plural: "fluxgatepolicies", namespaced: false };

/** Why an object is or is not in force; the `reason` of its Ready condition. */
export type ClusterPolicyReason = "Accepted" | "Invalid" | "Conflict";

/** What became of one FluxgatePolicy. */
export type ClusterPolicyOutcome = {
  name: string;
  /** `metadata.generation` the outcome is for (`observedGeneration` of the condition). */
  generation: number | undefined;
  reason: ClusterPolicyReason;
  message: string;
};

/** A FluxgatePolicy whose spec parsed. */
export type ClusterPolicySource = {
  name: string;
  generation: number | undefined;
  /** `metadata.creationTimestamp`, for the merge order. */
  createdAt: string;
  policy: Policy;
  /** What the spec sets explicitly (the parse fills in defaults, which must not count as set). */
  sets: { rules: ModedRule[]; exemptions: ExemptionList[] };
};

type ExemptionList = keyof Policy["exemptions"];

/** Which keys a spec writes, read before defaults are filled in. */
const writtenKeys = z.looseObject({
  rules: z.record(z.string(), z.unknown()).optional(),
  exemptions: z.record(z.string(), z.unknown()).optional(),
});

/** `spec.tenants[0].name: expected …; spec.defaultTenant: …`, for a condition message. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = ["spec", ...issue.path].map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
      return `${path}: ${issue.message}`;
    })
    .join("; ");
}

/**
 * Parses one object's spec with the configuration's own schema.
 * @example parseClusterPolicy(object) // { source: {...} } or { outcome: { reason: "Invalid", message: "spec.tenants[0].name: …" } }
 */
export function parseClusterPolicy(object: KubeObject): { source: ClusterPolicySource } | { outcome: ClusterPolicyOutcome } {
  const name = object.metadata.name;
  const generation = object.metadata.generation;
  const spec = object["spec"] ?? {};
  const parsed = policySchema.safeParse(spec);
  if (!parsed.success) return { outcome: { name, generation, reason: "Invalid", message: truncate(formatIssues(parsed.error)) } };
  const written = writtenKeys.parse(spec);
  const policy = parsed.data;
  return {
    source: {
      name,
      generation,
      createdAt: object.metadata.creationTimestamp ?? "",
      policy,
      sets: {
        rules: (Object.keys(policy.rules) as ModedRule[]).filter((r) => written.rules?.[r] !== undefined),
        exemptions: (Object.keys(policy.exemptions) as ExemptionList[]).filter((k) => written.exemptions?.[k] !== undefined),
      },
    },
  };
}

/**
 * The file's policy with every non-conflicting FluxgatePolicy merged in (see the module comment), and what became of
 * each. Pure: the same inputs give the same result in every replica.
 * @example mergePolicies(config.policy, sources).policy.tenants.map((t) => t.name)
 */
export function mergePolicies(base: Policy, sources: readonly ClusterPolicySource[]): { policy: Policy; outcomes: ClusterPolicyOutcome[] } {
  const FILE: string = "the configuration file";
  const tenants = [...base.tenants];
  const tenantOrigin = new Map(base.tenants.map((t) => [t.name, FILE]));
  const namespaceOwner = new Map(base.tenants.flatMap((t) => t.namespaces.map((ns) => [ns, { tenant: t.name, origin: FILE }] as const)));
  const exemptions: Policy["exemptions"] = structuredClone(base.exemptions);
  const rules: Policy["rules"] = { ...base.rules };
  const ruleOrigin = new Map<ModedRule, string>();
  const windows = [...base.windows];
  const windowOrigin = new Map(base.windows.map((w) => [w.name, FILE]));
  const breakGlass: Policy["breakGlass"] = structuredClone(base.breakGlass);
  let defaultTenant = base.defaultTenant;
  let defaultTenantOrigin = base.defaultTenant === undefined ? undefined : FILE;
  const outcomes: ClusterPolicyOutcome[] = [];

  const ordered = [...sources].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const source of ordered) {
    const { policy } = source;
    const origin = `FluxgatePolicy "${source.name}"`;
    const conflicts: string[] = [];
    for (const t of policy.tenants) {
      const other = tenantOrigin.get(t.name);
      if (other !== undefined) conflicts.push(`tenant "${t.name}" is already defined by ${other}`);
      for (const ns of t.namespaces) {
        const owner = namespaceOwner.get(ns);
        if (owner !== undefined) conflicts.push(`namespace "${ns}" of tenant "${t.name}" already belongs to tenant "${owner.tenant}" (${owner.origin})`);
      }
    }
    if (policy.defaultTenant !== undefined && defaultTenantOrigin !== undefined) {
      conflicts.push(`defaultTenant is already set to "${defaultTenant}" by ${defaultTenantOrigin}`);
    }
    for (const w of policy.windows) {
      const other = windowOrigin.get(w.name);
      if (other !== undefined) conflicts.push(`window "${w.name}" is already defined by ${other}`);
    }
    for (const r of source.sets.rules) {
      const other = ruleOrigin.get(r);
      if (other !== undefined && rules[r] !== policy.rules[r]) conflicts.push(`rules.${r} is set to "${rules[r]}" by ${other}`);
    }
    if (conflicts.length > 0) {
      outcomes.push({ name: source.name, generation: source.generation, reason: "Conflict", message: truncate(`not applied: ${conflicts.join("; ")}`) });
      continue;
    }

    for (const t of policy.tenants) {
      tenants.push(t);
      tenantOrigin.set(t.name, origin);
      for (const ns of t.namespaces) namespaceOwner.set(ns, { tenant: t.name, origin });
    }
    for (const list of source.sets.exemptions) exemptions[list] = [...new Set([...exemptions[list], ...policy.exemptions[list]])];
    for (const r of source.sets.rules) {
      rules[r] = policy.rules[r];
      ruleOrigin.set(r, origin);
    }
    if (policy.defaultTenant !== undefined) {
      defaultTenant = policy.defaultTenant;
      defaultTenantOrigin = origin;
    }
    for (const w of policy.windows) {
      windows.push(w);
      windowOrigin.set(w.name, origin);
    }
    breakGlass.users = [...new Set([...breakGlass.users, ...policy.breakGlass.users])];
    breakGlass.groups = [...new Set([...breakGlass.groups, ...policy.breakGlass.groups])];
    breakGlass.requireReason ||= policy.breakGlass.requireReason;
    const what = [`${policy.tenants.length} tenant(s)`, `${policy.windows.length} window(s)`];
    if (source.sets.exemptions.length > 0) what.push(`exemptions (${source.sets.exemptions.join(", ")})`);
    if (source.sets.rules.length > 0) what.push(`rule modes (${source.sets.rules.join(", ")})`);
    if (policy.defaultTenant !== undefined) what.push(`defaultTenant "${policy.defaultTenant}"`);
    const glass = policy.breakGlass.users.length + policy.breakGlass.groups.length;
    if (glass > 0) what.push(`${glass} break-glass user(s)/group(s)`);
    outcomes.push({ name: source.name, generation: source.generation, reason: "Accepted", message: `applied: ${what.join(", ")}` });
  }
  // Built key by key (not spread from `base`), so a new policy key fails to compile here until its merge is decided.
  const policy: Policy = { rules, exemptions, tenants, ...(defaultTenant === undefined ? {} : { defaultTenant }), windows, breakGlass };
  return { policy, outcomes };
}

/** Kubernetes caps condition messages at 32768 characters; ours stay readable well below. */
function truncate(message: string): string {
  return message.length <= 2000 ? message : `${message.slice(0, 1997)}...`;
}

const conditionSchema = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  observedGeneration: z.number().optional(),
  lastTransitionTime: z.string().optional(),
});
const statusSchema = z.looseObject({ conditions: z.array(conditionSchema).optional() });

/**
 * The object with its Ready condition set to `outcome`, or undefined when it already says so (or the object moved
 * on to a newer generation, whose own outcome will be written).
 */
export function withReadyCondition(object: KubeObject, outcome: ClusterPolicyOutcome, now: Date): KubeObject | undefined {
  if (outcome.generation !== undefined && object.metadata.generation !== undefined && object.metadata.generation !== outcome.generation) return undefined;
  const parsed = statusSchema.safeParse(object["status"] ?? {});
  const status = parsed.success ? parsed.data : {};
  const conditions = status.conditions ?? [];
  const old = conditions.find((c) => c.type === "Ready");
  const value = outcome.reason === "Accepted" ? "True" : "False";
  if (old !== undefined && old.status === value && old.reason === outcome.reason && old.message === outcome.message && old.observedGeneration === outcome.generation) return undefined;
  const ready = {
    type: "Ready",
    status: value,
    reason: outcome.reason,
    message: outcome.message,
    ...(outcome.generation === undefined ? {} : { observedGeneration: outcome.generation }),
    lastTransitionTime: old !== undefined && old.status === value && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
  return {
    ...object,
    status: {
      ...status,
      ...(outcome.generation === undefined ? {} : { observedGeneration: outcome.generation }),
      conditions: [...conditions.filter((c) => c.type !== "Ready"), ready],
    },
  };
}

/** Options of `watchClusterPolicies`. */
export type ClusterPoliciesOptions = {
  client: KubeClient;
  log: Logger;
  /** The configuration file's policy; `setBase` replaces it after a reload. */
  base: Policy;
  /** Called with the merged policy after every change. */
  onChange?: (policy: Policy) => void;
  /** Write each object's Ready condition (the admission role does; other roles only read). Default true. */
  reportStatus?: boolean;
  now?: () => Date;
};

/** A running watch; see `watchClusterPolicies`. */
export type ClusterPolicies = {
  /** The policy in force: the file's, with the accepted FluxgatePolicies merged in. */
  policy(): Policy;
  /** A reloaded configuration file's policy; merges again at once. */
  setBase(policy: Policy): void;
  /** Each object's outcome, by name order. */
  outcomes(): readonly ClusterPolicyOutcome[];
  /** True once the objects were listed, or the CRD turned out not to be installed. */
  synced(): boolean;
  /** Resolves when `synced()` turns true. */
  whenSynced: Promise<void>;
  /** Why it is synced, for `/readyz`: how many objects are in force, or that the CRD is missing. */
  describe(): string;
  stop(): Promise<void>;
};

/**
 * Watches FluxgatePolicy objects and keeps the merged policy current.
 * @example
 * const policies = watchClusterPolicies({ client: kube, log, base: config.policy });
 * evaluate(input, policies.policy(), phase);
 */
export function watchClusterPolicies(options: ClusterPoliciesOptions): ClusterPolicies {
  const { client } = options;
  const log = options.log.child({ component: "cluster-policies" });
  const now = options.now ?? (() => new Date());
  const reportStatus = options.reportStatus ?? true;
  const informer = createInformer({ client, type: FLUXGATE_POLICY });
  let base = options.base;
  let merged: Policy = base;
  let outcomes: ClusterPolicyOutcome[] = [];
  const lastReported = new Map<string, string>();
  let crdMissing = false;
  let stopped = false;

  const rebuild = (): void => {
    try {
      const sources: ClusterPolicySource[] = [];
      const invalid: ClusterPolicyOutcome[] = [];
      for (const object of informer.list()) {
        const r = parseClusterPolicy(object);
        if ("source" in r) sources.push(r.source);
        else invalid.push(r.outcome);
      }
      const result = mergePolicies(base, sources);
      merged = result.policy;
      outcomes = [...invalid, ...result.outcomes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const o of outcomes) {
        const key = `${o.reason}\n${o.message}`;
        if (lastReported.get(o.name) === key) continue;
        lastReported.set(o.name, key);
        if (o.reason === "Accepted") log.info({ policy: o.name, message: o.message }, "FluxgatePolicy applied");
        else log.warn({ policy: o.name, reason: o.reason, message: o.message }, "FluxgatePolicy not applied");
      }
      for (const name of lastReported.keys()) if (!outcomes.some((o) => o.name === name)) lastReported.delete(name);
      options.onChange?.(merged);
      if (reportStatus && informer.synced()) void writeStatuses();
    } catch (e) {
      // A bug here must not take the gate down: the previous merged policy stays in force.
      log.error({ err: e }, "FluxgatePolicies not merged; keeping the previous policy");
    }
  };

  // Status writes run one pass at a time; a change during a pass schedules one more.
  let writing: Promise<void> | undefined;
  let again = false;
  const writeStatuses = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (writing !== undefined) {
      again = true;
      return writing;
    }
    writing = (async () => {
      for (const outcome of outcomes) {
        const cached = informer.get(undefined, outcome.name);
        if (cached === undefined || withReadyCondition(cached, outcome, now()) === undefined) continue;
        try {
          await client.modify(FLUXGATE_POLICY, undefined, outcome.name, (current) => withReadyCondition(current, outcome, now()), { subresource: "status" });
        } catch (e) {
          if (!isKubeNotFound(e)) log.warn({ err: e, policy: outcome.name }, "could not write the FluxgatePolicy's status; trying again at the next change");
        }
      }
    })().finally(() => {
      writing = undefined;
      if (again) {
        again = false;
        void writeStatuses();
      }
    });
    return writing;
  };

  informer.on({
    add: rebuild,
    update(previous, current) {
      // Our own status writes come back as updates of the same generation: only check them against the outcome.
      if (previous.metadata.generation !== current.metadata.generation) rebuild();
      else if (reportStatus && informer.synced()) void writeStatuses();
    },
    delete: rebuild,
  });
  informer.start();

  // Without the CRD the list answers 404 and the informer keeps trying (so installing it later works); meanwhile
  // the file's policy is all there is, which must not keep the gate unready.
  let markMissing: () => void = () => {};
  const missing = new Promise<void>((resolve) => {
    markMissing = resolve;
  });
  client.list(FLUXGATE_POLICY, { pageSize: 1 }).then(
    () => {},
    (e: unknown) => {
      if (!isKubeNotFound(e) || informer.synced()) return;
      crdMissing = true;
      log.warn("the FluxgatePolicy CRD is not installed (deploy/crds); only the configuration file's policy applies until it is");
      markMissing();
    },
  );
  const whenSynced = Promise.race([
    informer.whenSynced.then(() => {
      crdMissing = false;
      rebuild();
    }),
    missing,
  ]);
  whenSynced.catch(() => {});

  return {
    policy: () => merged,
    setBase(policy) {
      base = policy;
      rebuild();
    },
    outcomes: () => outcomes,
    synced: () => informer.synced() || crdMissing,
    whenSynced,
    describe() {
      if (!informer.synced()) return crdMissing ? "FluxgatePolicy CRD not installed: the configuration file's policy only" : "listing FluxgatePolicies";
      const accepted = outcomes.filter((o) => o.reason === "Accepted").length;
      return `${accepted} of ${outcomes.length} FluxgatePolicy object(s) applied`;
    },
    async stop() {
      stopped = true;
      await informer.stop();
      await writing;
    },
  };
}
