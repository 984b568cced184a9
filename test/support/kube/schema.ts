/**
 * CRD structural schemas as kube-apiserver applies them to custom resources: pruning of unknown fields (and of
 * nulls where not `nullable`), defaulting, then OpenAPI v3 validation (ajv) with the apiextensions messages
 * (`spec.interval: Required value`, `… in body should match '…'`, `… must be of type boolean: "string"`).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { KubeObject } from "./admission-types.ts";
import type { FieldError } from "./status.ts";

type Schema = Record<string, unknown>;

/** ObjectMeta's fields: anything else under `metadata` is dropped like the typed decoder does. */
const OBJECT_META_FIELDS = new Set([
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
]);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Path segment the way kube prints field paths: `.key`, `[i]`. */
function child(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** Drops unknown metadata fields; returns their paths. */
export function pruneObjectMeta(meta: unknown, path = "metadata"): string[] {
  const unknown: string[] = [];
  if (!isObject(meta)) return unknown;
  for (const k of Object.keys(meta)) {
    if (!OBJECT_META_FIELDS.has(k)) {
      delete meta[k];
      unknown.push(child(path, k));
    } else if (meta[k] === null) delete meta[k];
  }
  return unknown;
}

function prune(value: unknown, schema: Schema | undefined, path: string, unknown: string[], embedded = false): void {
  if (schema === undefined) return;
  if (Array.isArray(value)) {
    const items = schema.items;
    if (isObject(items)) {
      for (let i = 0; i < value.length; i++) {
        if (value[i] === null && items.nullable !== true) continue; // nulls inside lists are kept (and then validated)
        prune(value[i], items, child(path, i), unknown);
      }
    }
    return;
  }
  if (!isObject(value)) return;
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
  const props = isObject(schema.properties) ? (schema.properties as Record<string, Schema>) : undefined;
  const addl = schema.additionalProperties;
  const isEmbedded = embedded || schema["x-kubernetes-embedded-resource"] === true;
  for (const key of Object.keys(value)) {
    if (isEmbedded && (key === "apiVersion" || key === "kind")) continue;
    if (isEmbedded && key === "metadata") {
      unknown.push(...pruneObjectMeta(value[key], child(path, key)));
      continue;
    }
    const sub = props?.[key] ?? (isObject(addl) ? (addl as Schema) : undefined);
    if (sub === undefined) {
      if (preserve || addl === true) continue;
      delete value[key];
      unknown.push(child(path, key));
      continue;
    }
    if (value[key] === null && sub.nullable !== true) {
      delete value[key];
      continue;
    }
    prune(value[key], sub, child(path, key), unknown);
  }
}

function applyDefaults(value: unknown, schema: Schema | undefined): void {
  if (schema === undefined) return;
  if (Array.isArray(value)) {
    if (isObject(schema.items)) for (const v of value) applyDefaults(v, schema.items as Schema);
    return;
  }
  if (!isObject(value)) return;
  const props = isObject(schema.properties) ? (schema.properties as Record<string, Schema>) : undefined;
  if (props !== undefined) {
    for (const [k, sub] of Object.entries(props)) {
      if (value[k] === undefined && sub.default !== undefined) value[k] = structuredClone(sub.default);
    }
  }
  for (const [k, v] of Object.entries(value)) {
    const sub = props?.[k] ?? (isObject(schema.additionalProperties) ? (schema.additionalProperties as Schema) : undefined);
    applyDefaults(v, sub);
  }
}

/**
 * Prunes (in place) what the schema does not know and applies its defaults, as the CR decoder does. `apiVersion`,
 * `kind` and `metadata` at the root are kept (metadata reduced to ObjectMeta). Returns the pruned field paths,
 * which become `unknown field "spec.x"` warnings or Strict-mode errors.
 */
export function pruneAndDefault(obj: KubeObject, schema: Schema): string[] {
  const unknown: string[] = [];
  const props = isObject(schema.properties) ? (schema.properties as Record<string, Schema>) : {};
  for (const key of Object.keys(obj)) {
    if (key === "apiVersion" || key === "kind") continue;
    if (key === "metadata") {
      unknown.push(...pruneObjectMeta(obj.metadata));
      continue;
    }
    const sub = props[key];
    if (sub === undefined) {
      if (schema["x-kubernetes-preserve-unknown-fields"] === true) continue;
      delete obj[key];
      unknown.push(key);
      continue;
    }
    if (obj[key] === null && sub.nullable !== true) {
      delete obj[key];
      continue;
    }
    prune(obj[key], sub, key, unknown);
  }
  for (const [k, sub] of Object.entries(props)) {
    if (k === "metadata" || k === "apiVersion" || k === "kind") continue;
    if (obj[k] === undefined && sub.default !== undefined) obj[k] = structuredClone(sub.default);
    applyDefaults(obj[k], sub);
  }
  return unknown;
}

// --- validation ---

const GO_DURATION = /^[-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))*$|^0$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function newAjv(unicodeRegExp: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, logger: false, unicodeRegExp, validateFormats: true });
  // kube-openapi's string formats (strfmt); number formats like int64 are not checked.
  ajv.addFormat("date-time", { type: "string", validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s.replace(" ", "T"))) });
  ajv.addFormat("datetime", { type: "string", validate: (s: string) => RFC3339.test(s) });
  ajv.addFormat("date", { type: "string", validate: (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s) });
  ajv.addFormat("duration", { type: "string", validate: (s: string) => GO_DURATION.test(s) });
  ajv.addFormat("uuid", { type: "string", validate: (s: string) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(s) });
  ajv.addFormat("byte", { type: "string", validate: (s: string) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s) });
  ajv.addFormat("ipv4", { type: "string", validate: (s: string) => /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(s) });
  ajv.addFormat("hostname", { type: "string", validate: (s: string) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(s) });
  ajv.addFormat("uri", { type: "string", validate: (s: string) => URL.canParse(s) });
  for (const f of ["int32", "int64", "float", "double", "password", "email", "ipv6", "cidr", "mac", "bsonobjectid", "uri-reference", "hexcolor", "rgbcolor"]) {
    ajv.addFormat(f, true);
  }
  ajv.addKeyword({
    keyword: "x-kubernetes-int-or-string",
    schemaType: "boolean",
    validate: (on: boolean, data: unknown) => !on || typeof data === "string" || (typeof data === "number" && Number.isInteger(data)),
    errors: false,
  });
  return ajv;
}

const ajvUnicode = newAjv(true);
let ajvLegacy: Ajv | undefined;
// Compiled validators are shared by every emulator in the process: the Flux CRDs take ~0.5 s to compile.
const compiled = new Map<string, ValidateFunction>();

function validatorFor(schema: Schema): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (v === undefined) {
    try {
      v = ajvUnicode.compile(schema);
    } catch {
      // Go RE2 patterns that are not valid as unicode JS regexps (e.g. `\-` outside classes) compile without `u`.
      ajvLegacy ??= newAjv(false);
      v = ajvLegacy.compile(schema);
    }
    compiled.set(key, v);
  }
  return v;
}

/** Compiles a schema now (so a bad one fails at load time rather than at the first write). */
export function precompile(schema: Schema): void {
  validatorFor(schema);
}

function pointerToPath(pointer: string): string {
  let path = "";
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    path = /^\d+$/.test(seg) ? child(path, Number(seg)) : child(path, seg);
  }
  return path;
}

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function toFieldError(e: ErrorObject, root: unknown): FieldError {
  const path = pointerToPath(e.instancePath);
  let data: unknown = root;
  for (const raw of e.instancePath.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    data = data !== null && typeof data === "object" ? (data as Record<string, unknown>)[seg] : undefined;
  }
  const p = e.params as Record<string, unknown>;
  const where = `${path} in body`;
  switch (e.keyword) {
    case "required":
      return { type: "FieldValueRequired", field: child(path, String(p.missingProperty)) };
    case "enum":
      return {
        type: "FieldValueNotSupported",
        field: path,
        badValue: data,
        supported: ((p.allowedValues as unknown[]) ?? []).map((v) => (typeof v === "string" ? v : JSON.stringify(v))),
      };
    case "type":
    case "nullable": {
      const observed = jsonType(data);
      return { type: "FieldValueTypeInvalid", field: path, badValue: observed, detail: `${where} must be of type ${String(p.type ?? "")}: ${JSON.stringify(observed)}` };
    }
    case "x-kubernetes-int-or-string": {
      const observed = jsonType(data);
      return { type: "FieldValueTypeInvalid", field: path, badValue: observed, detail: `${where} must be of type integer,string: ${JSON.stringify(observed)}` };
    }
    case "pattern":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should match '${String(p.pattern)}'` };
    case "format":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} must be of type ${String(p.format)}: ${JSON.stringify(data)}` };
    case "minLength":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should be at least ${String(p.limit)} chars long` };
    case "maxLength":
      return { type: "FieldValueTooLong", field: path, badValue: data, limit: Number(p.limit) };
    case "minimum":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should be greater than or equal to ${String(p.limit)}` };
    case "exclusiveMinimum":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should be greater than ${String(p.limit)}` };
    case "maximum":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should be less than or equal to ${String(p.limit)}` };
    case "exclusiveMaximum":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should be less than ${String(p.limit)}` };
    case "minItems":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should have at least ${String(p.limit)} items` };
    case "maxItems":
      return { type: "FieldValueTooMany", field: path, badValue: Array.isArray(data) ? data.length : 0, limit: Number(p.limit) };
    case "minProperties":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should have at least ${String(p.limit)} properties` };
    case "maxProperties":
      return { type: "FieldValueTooMany", field: path, badValue: isObject(data) ? Object.keys(data).length : 0, limit: Number(p.limit) };
    case "uniqueItems":
      return { type: "FieldValueDuplicate", field: path, badValue: data };
    case "multipleOf":
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} should be a multiple of ${String(p.multipleOf)}` };
    default:
      return { type: "FieldValueInvalid", field: path, badValue: data, detail: `${where} ${e.message ?? "is invalid"}` };
  }
}

/** Validates an (already pruned and defaulted) object; the errors in kube's field-error form. */
export function validateSchema(obj: KubeObject, schema: Schema): FieldError[] {
  const validate = validatorFor(schema);
  if (validate(obj)) return [];
  const errors = validate.errors ?? [];
  // A failed anyOf/oneOf reports each branch too; keep only the combinator's own error, like go-openapi.
  const combinators = errors.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf").map((e) => e.schemaPath);
  const kept = errors.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf" || !combinators.some((c) => e.schemaPath.startsWith(`${c}/`)));
  const out: FieldError[] = [];
  for (const e of kept) {
    if (e.keyword === "if") continue;
    const fe = toFieldError(e, obj);
    if (!out.some((o) => o.type === fe.type && o.field === fe.field && o.detail === fe.detail)) out.push(fe);
  }
  return out;
}
