/**
 * Version constraints: a chart version or Flux version constraint must select only versions inside the tenant's
 * range, so a HelmRelease cannot float to the next major (or, left empty, to any version).
 */
import { globMatcher } from "../../policy/glob.ts";
import { valueAt } from "../../flux/field-paths.ts";
import type { VersionField } from "../../flux/field-paths.ts";
import type { Tenant } from "../../policy/tenancy.ts";
import { versionRange, withinRange } from "../../policy/version-range.ts";
import type { KubeObject, Violation } from "../rule.ts";
import { show } from "./admission-rule.ts";
import type { AdmissionRule } from "./admission-rule.ts";

const name = "semver-range";

export const semverRange: AdmissionRule = {
  name,
  summary: "Chart version constraints lie inside the tenant's range for that chart (versions.charts), a FluxInstance's Flux version inside versions.flux.",
  check({ object, paths, tenant }) {
    const violations: Violation[] = [];
    for (const field of paths.versions) {
      const limit = limitFor(field, object, tenant);
      if (limit === undefined) continue;
      const value = valueAt(object, field.path);
      const allowed = `tenant "${tenant.name}" may use ${limit.what} in ${show(limit.range)} only`;
      if (value === undefined || value === "") {
        if (field.default !== undefined && !withinRange(field.default, limit.range)) {
          violations.push({ rule: name, path: field.path, message: `${field.path}: not set, so any version; ${allowed}` });
        }
      } else if (typeof value !== "string" || versionRange(value) === undefined) {
        violations.push({ rule: name, path: field.path, value, message: `${field.path}: ${show(value)} is not a semver range; ${allowed}` });
      } else if (!withinRange(value, limit.range)) {
        violations.push({ rule: name, path: field.path, value, message: `${field.path}: ${show(value)} reaches beyond the allowed range; ${allowed}` });
      }
    }
    return violations;
  },
};

/** The tenant's range for what a version field selects, and what to call it; undefined when nothing limits it. */
function limitFor(field: VersionField, object: KubeObject, tenant: Tenant): { range: string; what: string } | undefined {
  if (field.subject === "flux") return tenant.versions.flux === undefined ? undefined : { range: tenant.versions.flux, what: "Flux versions" };
  const ignored = field.ignoredForSources;
  if (ignored !== undefined && ignored.kinds.includes(String(valueAt(object, ignored.path)))) return undefined;
  const chart = chartName(field, object);
  if (chart === undefined) return undefined;
  const entry = tenant.versions.charts.find((c) => globMatcher(c.name)(chart));
  return entry === undefined ? undefined : { range: entry.range, what: `${chart} chart versions` };
}

function chartName(field: VersionField, object: KubeObject): string | undefined {
  const from = field.chartName;
  if (from === undefined) return undefined;
  if ("path" in from) {
    const name = valueAt(object, from.path);
    return typeof name === "string" && name !== "" ? name : undefined;
  }
  const url = valueAt(object, from.lastSegmentOf);
  if (typeof url !== "string") return undefined;
  const last = url.replace(/[@:][^/]*$/, "").replace(/\/+$/, "").split("/").pop();
  return last === undefined || last === "" || last.includes(":") ? undefined : last;
}
