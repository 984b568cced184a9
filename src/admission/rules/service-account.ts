/**
 * Service accounts: a Kustomization or HelmRelease that names none is applied as the controller's default (or, with
 * the lockdown flags missing, as the controller itself: cluster-admin), so tenants must name theirs; the mutating
 * webhook fills in the tenant's. Other service-account fields (workload identity, pull secrets) may name only the
 * tenant's accounts.
 */
import { isRecord, jsonPointer, valueAt } from "../../flux/field-paths.ts";
import type { JsonPatchOperation, Violation } from "../rule.ts";
import { anyOf, show } from "./admission-rule.ts";
import type { AdmissionRule } from "./admission-rule.ts";

const name = "service-account";

export const serviceAccount: AdmissionRule = {
  name,
  summary: "Kustomizations and HelmReleases run as one of the tenant's service accounts (the tenant's default is set when they name none); other service-account fields name only those.",
  check({ object, paths, tenant }) {
    const allowed = [tenant.serviceAccountName, ...tenant.allowedServiceAccountNames];
    const which = `tenant "${tenant.name}" may use only ${anyOf(allowed.map((a) => show(a)))}`;
    const violations: Violation[] = [];
    const required = paths.impersonatedServiceAccount;
    if (required !== undefined) {
      const value = valueAt(object, required);
      if (value === undefined || value === "") {
        violations.push({ rule: name, path: required, message: `${required}: not set, so the controller's default service account would apply; ${which}` });
      } else if (typeof value !== "string" || !allowed.includes(value)) {
        violations.push({ rule: name, path: required, value, message: `${required}: ${show(value)} is not a service account of the tenant; ${which}` });
      }
    }
    for (const path of paths.otherServiceAccounts) {
      const value = valueAt(object, path);
      if (value === undefined || value === "" || (typeof value === "string" && allowed.includes(value))) continue;
      violations.push({ rule: name, path, value, message: `${path}: ${show(value)} is not a service account of the tenant; ${which}` });
    }
    return violations;
  },
  mutate({ object, paths, tenant }) {
    const path = paths.impersonatedServiceAccount;
    if (path === undefined) return [];
    const value = valueAt(object, path);
    if (value === "") return [{ op: "replace", path: jsonPointer(path), value: tenant.serviceAccountName }];
    return value === undefined ? [addAt(object, path, tenant.serviceAccountName)] : [];
  },
};

/** An `add` of `value` at `path`, creating missing parent objects in the same operation (`/spec` when there is none). */
function addAt(object: unknown, path: string, value: unknown): JsonPatchOperation {
  const segments = path.split(".");
  let depth = 0;
  let node: unknown = object;
  while (depth < segments.length - 1 && isRecord(node) && isRecord(node[segments[depth] ?? ""])) {
    node = node[segments[depth] ?? ""];
    depth += 1;
  }
  const nested = segments.slice(depth + 1).reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
  return { op: "add", path: jsonPointer(segments.slice(0, depth + 1).join(".")), value: nested };
}
