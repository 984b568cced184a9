/**
 * Builds the `AdmissionInput` a rule test judges, and a one-tenant policy to judge it by: tenant `dev-team` owning
 * `apps` and running as service account `dev-team`, plus whatever a test adds.
 */
import fastJsonPatch from "fast-json-patch";
import type { Operation as FastJsonPatchOperation } from "fast-json-patch";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { loadAll } from "js-yaml";
import { evaluate } from "../../src/admission/evaluate.ts";
import type { EvaluateOptions } from "../../src/admission/evaluate.ts";
import type { AdmissionInput, JsonPatchOperation, KubeObject, Operation, Violation } from "../../src/admission/rule.ts";
import { policySchema } from "../../src/policy/tenancy.ts";
import type { Policy, PolicyInput } from "../../src/policy/tenancy.ts";

/** A request by a person using kubectl: not exempt, so the rules run. */
export const JANE = { username: "jane@example.com", groups: ["developers", "system:authenticated"] };

/** The user a Flux controller writes as. */
export const controller = (name: string) => ({
  username: `system:serviceaccount:flux-system:${name}`,
  groups: ["system:serviceaccounts", "system:serviceaccounts:flux-system", "system:authenticated"],
});

/** An admission request for `object`, a CREATE by Jane unless told otherwise. */
export function admissionRequest(
  object: KubeObject,
  options: { operation?: Operation; oldObject?: KubeObject; user?: AdmissionInput["user"]; dryRun?: boolean; namespace?: string } = {},
): AdmissionInput {
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
  const operation = options.operation ?? "CREATE";
  return {
    operation,
    ...(operation === "DELETE" ? {} : { object }),
    ...(options.oldObject === undefined ? {} : { oldObject: options.oldObject }),
    kind: { group: group ?? "", version: version ?? "", kind: object.kind },
    namespace: options.namespace ?? object.metadata.namespace ?? "",
    user: options.user ?? JANE,
    dryRun: options.dryRun ?? false,
    now: new Date("2026-07-01T10:00:00Z"),
  };
}

type TenantInput = NonNullable<PolicyInput["tenants"]>[number];

/** A policy with one tenant, `dev-team` in `apps` with service account `dev-team`, changed by `tenant` and `policy`. */
export function devTeamPolicy(tenant: Partial<TenantInput> = {}, policy: Omit<PolicyInput, "tenants"> = {}): Policy {
  return policySchema.parse({ ...policy, tenants: [{ name: "dev-team", namespaces: ["apps"], serviceAccountName: "dev-team", ...tenant }] });
}

/** A Flux object in `apps` (or the namespace given) with this spec. */
export function fluxObject(apiVersion: string, kind: string, spec: Record<string, unknown>, namespace = "apps", name = "app"): KubeObject {
  return { apiVersion, kind, metadata: { name, namespace }, spec };
}

/** `patch` applied to a copy of `object` (RFC 6902), as kube-apiserver applies a mutating webhook's answer. */
export function applyPatch(object: KubeObject, patch: JsonPatchOperation[]): KubeObject {
  return fastJsonPatch.applyPatch(structuredClone(object), patch as FastJsonPatchOperation[], true, false).newDocument;
}

/** The example repositories under `../shared/fixtures/flux/examples`. */
export const EXAMPLES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "flux", "examples");

/** Every document of a YAML file of an example repository, blank documents dropped. */
export function loadExample(...path: string[]): KubeObject[] {
  return loadAll(readFileSync(join(EXAMPLES, ...path), "utf8")).filter((d): d is KubeObject => typeof d === "object" && d !== null);
}

/** The enforced violations of one rule for `object` under `devTeamPolicy(tenant)`. */
export function denialsOf(rule: string, object: KubeObject, tenant: Partial<TenantInput> = {}, options: EvaluateOptions = {}): Violation[] {
  return evaluate(admissionRequest(object), devTeamPolicy(tenant), "validate", options).denials.filter((v) => v.rule === rule);
}
