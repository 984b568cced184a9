/**
 * ObjectMeta rules of kube-apiserver (apimachinery `api/validation/objectmeta.go`, `util/validation`): name
 * formats, label syntax, generated names, and the second-precision timestamps the server writes.
 */
import { randomInt } from "node:crypto";
import type { KubeObject } from "./admission-types.ts";
import type { FieldError } from "./status.ts";
import type { ResourceDef } from "./resources.ts";

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

const SUBDOMAIN_MSG = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '${DNS1123_SUBDOMAIN}')`;
const LABEL_MSG = `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '${DNS1123_LABEL}')`;
const LABEL_VALUE_MSG = `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '${LABEL_VALUE}')`;
const QUALIFIED_NAME_MSG = `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '${QUALIFIED_NAME}')`;

const full = (re: string): RegExp => new RegExp(`^${re}$`);

/** Why `name` is not a valid name under `rule`, or undefined. */
export function nameProblems(name: string, rule: ResourceDef["nameRule"]): string[] {
  if (rule === "path-segment") {
    if (name === "." || name === "..") return [`may not be '${name}'`];
    const bad = ["/", "%"].find((c) => name.includes(c));
    return bad === undefined ? [] : [`may not contain '${bad}'`];
  }
  if (rule === "label") {
    const out: string[] = [];
    if (name.length > 63) out.push("must be no more than 63 characters");
    if (!full(DNS1123_LABEL).test(name)) out.push(LABEL_MSG);
    return out;
  }
  const out: string[] = [];
  if (name.length > 253) out.push("must be no more than 253 characters");
  if (!full(DNS1123_SUBDOMAIN).test(name)) out.push(SUBDOMAIN_MSG);
  return out;
}

function qualifiedNameProblems(key: string): string[] {
  const slash = key.indexOf("/");
  const name = slash === -1 ? key : key.slice(slash + 1);
  const out: string[] = [];
  if (slash !== -1) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0) out.push("prefix part must be non-empty");
    else if (prefix.length > 253 || !full(DNS1123_SUBDOMAIN).test(prefix)) out.push(`prefix part ${SUBDOMAIN_MSG}`);
  }
  if (name.length === 0) out.push("name part must be non-empty");
  else if (name.length > 63) out.push("name part must be no more than 63 characters");
  else if (!full(QUALIFIED_NAME).test(name)) out.push(QUALIFIED_NAME_MSG);
  return out;
}

/** ObjectMeta validation on create/update: name (per resource), namespace, labels, annotation keys, finalizers. */
export function validateObjectMeta(obj: KubeObject, def: ResourceDef): FieldError[] {
  const meta = (obj.metadata ?? {}) as KubeObject;
  const errs: FieldError[] = [];
  const name = meta.name;
  if (typeof name !== "string" || name === "") {
    errs.push({ type: "FieldValueRequired", field: "metadata.name", detail: "name or generateName is required" });
  } else {
    for (const p of nameProblems(name, def.nameRule)) errs.push({ type: "FieldValueInvalid", field: "metadata.name", badValue: name, detail: p });
  }
  if (def.namespaced) {
    const ns = meta.namespace;
    if (typeof ns !== "string" || ns === "") errs.push({ type: "FieldValueRequired", field: "metadata.namespace" });
  }
  const labels = meta.labels;
  if (labels !== undefined && labels !== null) {
    if (typeof labels !== "object" || Array.isArray(labels)) {
      errs.push({ type: "FieldValueTypeInvalid", field: "metadata.labels", badValue: labels, detail: "must be a map of strings" });
    } else {
      for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
        for (const p of qualifiedNameProblems(k)) errs.push({ type: "FieldValueInvalid", field: "metadata.labels", badValue: k, detail: p });
        const s = String(v);
        if (s.length > 63) errs.push({ type: "FieldValueInvalid", field: "metadata.labels", badValue: s, detail: "must be no more than 63 characters" });
        else if (!full(LABEL_VALUE).test(s)) errs.push({ type: "FieldValueInvalid", field: "metadata.labels", badValue: s, detail: LABEL_VALUE_MSG });
      }
    }
  }
  const annotations = meta.annotations;
  if (annotations !== undefined && annotations !== null && typeof annotations === "object") {
    for (const k of Object.keys(annotations)) {
      for (const p of qualifiedNameProblems(k.toLowerCase())) errs.push({ type: "FieldValueInvalid", field: "metadata.annotations", badValue: k, detail: p });
    }
  }
  const finalizers = meta.finalizers;
  if (Array.isArray(finalizers)) {
    finalizers.forEach((f, i) => {
      const s = String(f);
      if (qualifiedNameProblems(s).length > 0) errs.push({ type: "FieldValueInvalid", field: `metadata.finalizers[${i}]`, badValue: s, detail: "name is neither a standard finalizer name nor is it fully qualified" });
    });
  }
  return errs;
}

// The alphabet of `utilrand.String` (no vowels, no ambiguous characters).
const ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789";

/** `generateName` + 5 random characters, capped at 63 characters of prefix like `names.SimpleNameGenerator`. */
export function generateName(prefix: string): string {
  let suffix = "";
  for (let i = 0; i < 5; i++) suffix += ALPHANUMS[randomInt(ALPHANUMS.length)];
  return `${prefix.length > 58 ? prefix.slice(0, 58) : prefix}${suffix}`;
}

/** RFC 3339 with second precision, UTC: what `metav1.Time` serialises to. */
export function kubeTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}
