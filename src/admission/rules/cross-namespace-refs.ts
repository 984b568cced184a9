/**
 * References into other namespaces: Flux's `--no-cross-namespace-refs` blocks some only when reconciling, and
 * `dependsOn`, health checks and ExternalArtifact back-pointers not at all. Fluxgate allows only the (namespace, kind)
 * pairs the tenant lists, e.g. shared HelmRepositories in `flux-system`.
 */
import { isRecord, valuesAt } from "../../flux/field-paths.ts";
import type { Violation } from "../rule.ts";
import { anyOf, show } from "./admission-rule.ts";
import type { AdmissionRule } from "./admission-rule.ts";

const name = "cross-namespace-refs";

export const crossNamespaceRefs: AdmissionRule = {
  name,
  summary: "A reference may name another namespace only for a (namespace, kind) pair the tenant lists in crossNamespaceRefs.",
  check({ object, paths, tenant, namespace }) {
    const allowed = tenant.crossNamespaceRefs;
    const what =
      allowed.length === 0
        ? `tenant "${tenant.name}" may not reference other namespaces`
        : `tenant "${tenant.name}" may reference only ${anyOf(allowed.map((p) => `${p.kind} in ${p.namespace}`))}`;
    const violations: Violation[] = [];
    for (const ref of paths.crossNamespaceRefs) {
      for (const { path, value } of valuesAt(object, ref.path)) {
        if (!isRecord(value)) continue;
        const ns = value["namespace"];
        if (typeof ns !== "string" || ns === "" || ns === namespace) continue;
        const kind = typeof value["kind"] === "string" ? value["kind"] : ref.defaultKind;
        if (allowed.some((p) => p.namespace === ns && p.kind === kind)) continue;
        violations.push({
          rule: name,
          path: `${path}.namespace`,
          value: ns,
          message: `${path}.namespace: ${show(ns)} is another namespace; ${what}`,
        });
      }
    }
    return violations;
  },
};
