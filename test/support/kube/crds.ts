/**
 * CustomResourceDefinitions: reading them from YAML files, turning one into the resources it serves (every served
 * version, its schema, status subresource, short names, categories, selectable fields), and the status the
 * apiextensions controllers would write (`NamesAccepted`, `Established`, `storedVersions`).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadAll } from "js-yaml";
import type { KubeObject } from "./admission-types.ts";
import { kubeTime } from "./object-meta.ts";
import type { ResourceDef } from "./resources.ts";
import type { FieldError } from "./status.ts";

type Crd = {
  metadata?: { name?: string };
  spec?: {
    group?: string;
    scope?: string;
    names?: { plural?: string; singular?: string; kind?: string; listKind?: string; shortNames?: string[]; categories?: string[] };
    versions?: Array<{
      name?: string;
      served?: boolean;
      storage?: boolean;
      schema?: { openAPIV3Schema?: KubeObject };
      subresources?: { status?: unknown };
      selectableFields?: Array<{ jsonPath?: string }>;
    }>;
  };
};

/** Every CRD document in the given files and directories (recursively, `.yaml`/`.yml`/`.json`, sorted by path). */
export function readCrdFiles(paths: string[]): KubeObject[] {
  const files: string[] = [];
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) walk(join(p, e));
    } else if (/\.(ya?ml|json)$/.test(p) || paths.includes(p)) files.push(p);
  };
  for (const p of paths) walk(p);
  const out: KubeObject[] = [];
  for (const f of files) {
    for (const doc of loadAll(readFileSync(f, "utf8"))) {
      if (doc !== null && typeof doc === "object" && (doc as KubeObject).kind === "CustomResourceDefinition") out.push(doc as KubeObject);
    }
  }
  return out;
}

/** Problems that make kube-apiserver refuse a CRD (a small subset of apiextensions validation). */
export function validateCrd(obj: KubeObject): FieldError[] {
  const crd = obj as Crd;
  const errs: FieldError[] = [];
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  if (!spec.group) errs.push({ type: "FieldValueRequired", field: "spec.group" });
  if (!names.plural) errs.push({ type: "FieldValueRequired", field: "spec.names.plural" });
  if (!names.kind) errs.push({ type: "FieldValueRequired", field: "spec.names.kind" });
  if (spec.scope !== "Namespaced" && spec.scope !== "Cluster") {
    errs.push({ type: "FieldValueNotSupported", field: "spec.scope", badValue: spec.scope ?? "", supported: ["Cluster", "Namespaced"] });
  }
  const name = crd.metadata?.name ?? "";
  if (spec.group && names.plural && name !== `${names.plural}.${spec.group}`) {
    errs.push({ type: "FieldValueInvalid", field: "metadata.name", badValue: name, detail: 'must be spec.names.plural+"."+spec.group' });
  }
  const versions = spec.versions ?? [];
  if (versions.length === 0) errs.push({ type: "FieldValueRequired", field: "spec.versions", detail: "must have exactly one version marked as storage version" });
  else if (versions.filter((v) => v.storage === true).length !== 1) {
    errs.push({ type: "FieldValueInvalid", field: "spec.versions", badValue: versions.map((v) => v.name), detail: "must have exactly one version marked as storage version" });
  }
  return errs;
}

/** The resources a (valid) CRD serves: one per served version. */
export function crdResources(obj: KubeObject): ResourceDef[] {
  const crd = obj as Crd;
  const spec = crd.spec!;
  const names = spec.names!;
  const versions = spec.versions ?? [];
  const storageVersion = versions.find((v) => v.storage === true)?.name ?? versions[0]?.name ?? "v1";
  return versions
    .filter((v) => v.served === true && typeof v.name === "string")
    .map((v) => {
      const selectableFields: Record<string, string[]> = {};
      for (const f of v.selectableFields ?? []) {
        if (typeof f.jsonPath === "string") selectableFields[f.jsonPath.replace(/^\./, "")] = f.jsonPath.replace(/^\./, "").split(".");
      }
      const def: ResourceDef = {
        group: spec.group!,
        version: v.name!,
        resource: names.plural!,
        singular: names.singular ?? names.kind!.toLowerCase(),
        kind: names.kind!,
        listKind: names.listKind ?? `${names.kind}List`,
        namespaced: spec.scope === "Namespaced",
        shortNames: names.shortNames ?? [],
        categories: names.categories ?? [],
        statusSubresource: v.subresources?.status !== undefined && v.subresources?.status !== null,
        generation: true,
        unconditionalUpdate: false,
        strategicMerge: false,
        nameRule: "subdomain",
        storageVersion,
        selectableFields,
        crd: crd.metadata!.name!,
      };
      const schema = v.schema?.openAPIV3Schema;
      if (schema !== undefined) def.schema = schema;
      return def;
    });
}

/** Sets the status the apiextensions controllers write once names are accepted (immediately, here). */
export function setCrdStatus(obj: KubeObject, now: Date): void {
  const crd = obj as Crd & KubeObject;
  const spec = crd.spec ?? {};
  const status = (obj.status ?? {}) as KubeObject;
  const storage = (spec.versions ?? []).find((v) => v.storage === true)?.name;
  const stored = new Set<string>(Array.isArray(status.storedVersions) ? (status.storedVersions as string[]) : []);
  if (storage !== undefined) stored.add(storage);
  const t = kubeTime(now);
  const old = Array.isArray(status.conditions) ? (status.conditions as KubeObject[]) : [];
  const since = (type: string): string => String(old.find((c) => c.type === type)?.lastTransitionTime ?? t);
  obj.status = {
    acceptedNames: { ...(spec.names ?? {}) },
    conditions: [
      { type: "NamesAccepted", status: "True", lastTransitionTime: since("NamesAccepted"), reason: "NoConflicts", message: "no conflicts found" },
      { type: "Established", status: "True", lastTransitionTime: since("Established"), reason: "InitialNamesAccepted", message: "the initial names have been accepted" },
    ],
    storedVersions: [...stored],
  };
}
