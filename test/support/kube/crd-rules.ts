/**
 * CRD validation rules (`x-kubernetes-validations`) evaluated with the CEL subset of `match-conditions.ts`, the way
 * kube-apiserver reports them: `spec: Invalid value: "object": either chart or chartRef must be set`. Rules this
 * subset cannot compile (comparisons like `>`, macros) and transition rules (`oldSelf`) are skipped.
 */
import type { KubeObject } from "./admission-types.ts";
import { CelEvalError, CelSyntaxError, compileCel } from "./match-conditions.ts";
import type { FieldError, FieldErrorType } from "./status.ts";

type Schema = Record<string, unknown>;
type Rule = { rule?: string; message?: string; reason?: string; fieldPath?: string };
type Compiled = ((vars: Record<string, unknown>) => unknown) | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const compiled = new Map<string, Compiled>();

function compile(rule: string): Compiled {
  if (!compiled.has(rule)) {
    let fn: Compiled;
    try {
      fn = rule.includes("oldSelf") ? undefined : compileCel(rule);
    } catch (e) {
      if (!(e instanceof CelSyntaxError)) throw e;
      fn = undefined;
    }
    compiled.set(rule, fn);
  }
  return compiled.get(rule);
}

const REASONS: Record<string, FieldErrorType> = {
  FieldValueInvalid: "FieldValueInvalid",
  FieldValueForbidden: "FieldValueForbidden",
  FieldValueRequired: "FieldValueRequired",
  FieldValueDuplicate: "FieldValueDuplicate",
};

function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

function walk(value: unknown, schema: Schema | undefined, path: string, errs: FieldError[]): void {
  if (schema === undefined || value === undefined || value === null) return;
  const rules = Array.isArray(schema["x-kubernetes-validations"]) ? (schema["x-kubernetes-validations"] as Rule[]) : [];
  for (const r of rules) {
    if (typeof r.rule !== "string") continue;
    const fn = compile(r.rule);
    if (fn === undefined) continue;
    let result: unknown;
    try {
      result = fn({ self: value });
    } catch (e) {
      if (e instanceof CelEvalError || e instanceof CelSyntaxError) continue;
      throw e;
    }
    if (result === true) continue;
    const field = r.fieldPath === undefined ? path : `${path}${r.fieldPath.startsWith(".") ? r.fieldPath : `.${r.fieldPath}`}`;
    const type = REASONS[r.reason ?? ""] ?? "FieldValueInvalid";
    const detail = r.message ?? `failed rule: ${r.rule}`;
    errs.push(type === "FieldValueInvalid" ? { type, field, printed: JSON.stringify(String(schema.type ?? "object")), detail } : { type, field, detail });
  }
  if (Array.isArray(value)) {
    if (isObject(schema.items)) value.forEach((v, i) => walk(v, schema.items as Schema, join(path, i), errs));
    return;
  }
  if (!isObject(value)) return;
  const props = isObject(schema.properties) ? (schema.properties as Record<string, Schema>) : {};
  for (const [k, v] of Object.entries(value)) {
    if (path === "" && k === "metadata") continue;
    walk(v, props[k] ?? (isObject(schema.additionalProperties) ? (schema.additionalProperties as Schema) : undefined), join(path, k), errs);
  }
}

/** The failed `x-kubernetes-validations` rules of an object, as field errors. */
export function validateCrdRules(obj: KubeObject, schema: Schema): FieldError[] {
  const errs: FieldError[] = [];
  walk(obj, schema, "", errs);
  return errs;
}
