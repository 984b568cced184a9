/**
 * What an admission rule is and what it sees. A rule is a pure function of the request and the tenant's policy:
 * it returns violations (each naming the JSON path, the value found and what is allowed) and, for mutating rules,
 * RFC 6902 operations. `evaluate.ts` runs every registered rule (`rules/index.ts`) and merges the results; the
 * webhook (`review.ts`) and `fluxgate check` only translate.
 */

import type { BreakGlassUse } from "../policy/break-glass.ts";

/** A Kubernetes object as JSON. */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; generateName?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
};

export type Operation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";

/** The request a rule judges: from an AdmissionReview, or built by `fluxgate check` (a CREATE by a configured user). */
export type AdmissionInput = {
  operation: Operation;
  /** The object after the change (absent on DELETE). */
  object?: KubeObject;
  /** The object before the change (UPDATE, DELETE). */
  oldObject?: KubeObject;
  /** `group`/`version`/`kind` of the object as registered (AdmissionReview `kind`). */
  kind: { group: string; version: string; kind: string };
  /** The request's namespace (the object's). */
  namespace: string;
  user: { username: string; groups: string[] };
  dryRun: boolean;
  /** When the request is judged (deployment windows). */
  now: Date;
};

/** One thing wrong with an object. */
export type Violation = {
  /** The rule's name, e.g. `cross-namespace-refs`. */
  rule: string;
  /** JSON path in the object, dotted with [i] for list items: `spec.sourceRef.namespace`, `spec.dependsOn[1].namespace`. */
  path: string;
  /** The value found there (undefined when the problem is a missing field). */
  value?: unknown;
  /**
   * The whole sentence shown to the user: path, value, and what is allowed, e.g.
   * `spec.sourceRef.namespace: "flux-system" is another namespace; tenant "dev-team" may reference only HelmRepository in flux-system`.
   */
  message: string;
};

/** An RFC 6902 operation; paths are JSON Pointers with `~0`/`~1` escaping. */
export type JsonPatchOperation = { op: "add" | "replace" | "remove" | "test"; path: string; value?: unknown };

/** Rule modes: `enforce` denies, `audit` allows with warnings. */
export type RuleMode = "enforce" | "audit";

/** Why a request was let through without running the rules. */
export type Exemption = {
  kind: "user" | "group" | "service-account" | "namespace" | "no-tenant" | "not-flux" | "spec-unchanged" | "delete";
  reason: string;
};

/** The outcome of evaluating one request in one phase. */
export type Decision = {
  exempt?: Exemption;
  /** The tenant whose policy applied. */
  tenant?: string;
  /** Enforce-mode violations: the request is denied when there is any. */
  denials: Violation[];
  /** Audit-mode violations: the request is allowed with these as warnings. */
  warnings: Violation[];
  /** Mutations to apply (mutate phase), empty when nothing changes. */
  patch: JsonPatchOperation[];
  /** Recorded by kube-apiserver in the audit log under `<webhook name>/<key>`. */
  auditAnnotations: Record<string, string>;
  /** A change let through a closed deployment window by break-glass: the webhook logs and counts it (not on dry-run). */
  breakGlass?: BreakGlassUse;
};

export type Phase = "validate" | "mutate";
