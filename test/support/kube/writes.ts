/**
 * Create, update (PUT), patch, delete and deletecollection with kube-apiserver's semantics (admission.md §5.2,
 * §5.3, §5.6). Every write of every resource goes through `admit()`, the one place admission happens:
 *
 *   decode (prune + default) → mutating admission → `validate` step (defaults again, generateName, uid,
 *   creationTimestamp, generation, status rules, resourceVersion checks, metadata + schema validation, managed
 *   fields) → validating admission → storage.
 *
 * The admission handler (`emulator.setAdmission`) runs both webhook phases and calls `ctx.validate` between them.
 */
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { load } from "js-yaml";
import type { AdmissionAttributes, AdmissionContext, KubeObject, StatusBody, ValidationOutcome } from "./admission-types.ts";
import { type Api, apiVersionOf, atStorageVersion, atVersion, metaOf, namespacedResources, type Scope, syncCrd } from "./api.ts";
import { validateCrdRules } from "./crd-rules.ts";
import { setCrdStatus, validateCrd } from "./crds.ts";
import { generateName, kubeTime, validateObjectMeta } from "./object-meta.ts";
import { applyJsonPatch, jsonPatchShapeProblem, mergePatch, strategicAsMergePatch } from "./patch.ts";
import type { ResourceDef } from "./resources.ts";
import { pruneAndDefault, pruneObjectMeta, validateSchema } from "./schema.ts";
import { ApplyBadRequestError, applyConflictMessage, recordUpdate, serverSideApply } from "./server-side-apply.ts";
import {
  alreadyExists,
  applyConflict,
  badRequest,
  conflict,
  deleteSuccess,
  type FieldError,
  invalid,
  jsonPatchFailed,
  KubeStatusError,
  notFound,
  OBJECT_MODIFIED,
  tooLarge,
  unsupportedMediaType,
  warningHeader,
} from "./status.ts";

/** What a write answers: HTTP code, body, and `Warning` header texts. */
export type WriteResult = { code: number; body: KubeObject | StatusBody; warnings: string[] };

type FieldValidation = "Ignore" | "Warn" | "Strict";
type WriteOptions = { dryRun: boolean; fieldManager: string; fieldValidation: FieldValidation; force: boolean };
type OptionsKind = "CreateOptions" | "UpdateOptions" | "PatchOptions" | "DeleteOptions";

const APPLY = "application/apply-patch+yaml";
const JSON_PATCH = "application/json-patch+json";
const MERGE_PATCH = "application/merge-patch+json";
const STRATEGIC = "application/strategic-merge-patch+json";
const MAX_JSON_PATCH_OPS = 10000;

const fail = (status: StatusBody): never => {
  throw new KubeStatusError(status);
};
const isObject = (v: unknown): v is KubeObject => v !== null && typeof v === "object" && !Array.isArray(v);
const gk = (def: ResourceDef) => ({ group: def.group, kind: def.kind });
const gr = (def: ResourceDef) => ({ group: def.group, resource: def.resource });

function parseOptions(scope: Scope, kind: OptionsKind, patchType?: string): WriteOptions {
  const q = scope.query;
  const errs: FieldError[] = [];
  const dryRun = q.getAll("dryRun");
  if (dryRun.some((v) => v !== "All")) errs.push({ type: "FieldValueNotSupported", field: "dryRun", badValue: dryRun, printed: `[]string{${dryRun.map((v) => JSON.stringify(v)).join(", ")}}`, supported: ["All"] });
  const fv = q.get("fieldValidation") ?? "";
  if (fv !== "" && fv !== "Ignore" && fv !== "Warn" && fv !== "Strict") {
    errs.push({ type: "FieldValueNotSupported", field: "fieldValidation", badValue: fv, supported: ["Ignore", "Warn", "Strict"] });
  }
  const fieldManager = q.get("fieldManager") ?? "";
  if (fieldManager.length > 128) errs.push({ type: "FieldValueTooLong", field: "fieldManager", badValue: fieldManager, limit: 128 });
  const force = q.get("force");
  if (kind === "PatchOptions") {
    if (patchType !== APPLY && force !== null) errs.push({ type: "FieldValueForbidden", field: "force", detail: "may not be specified for non-apply patch" });
    if (patchType === APPLY && fieldManager === "") errs.push({ type: "FieldValueRequired", field: "fieldManager", detail: "is required for apply patch" });
  }
  if (errs.length > 0) fail(invalid({ group: "meta.k8s.io", kind }, "", errs));
  // Without fieldManager the server names the manager after the User-Agent's product token.
  const manager = fieldManager !== "" ? fieldManager : scope.userAgent.split("/")[0] || "unknown";
  return { dryRun: dryRun.length > 0, fieldManager: manager, fieldValidation: fv === "" ? "Warn" : (fv as FieldValidation), force: force === "true" };
}

function optionsObject(kind: OptionsKind, o: WriteOptions, extra: KubeObject = {}): KubeObject {
  const out: KubeObject = { kind, apiVersion: "meta.k8s.io/v1" };
  if (o.dryRun) out.dryRun = ["All"];
  if (kind !== "DeleteOptions") out.fieldManager = o.fieldManager;
  return { ...out, ...extra };
}

/** Checks apiVersion/kind of a request body against the endpoint (filling them in when absent). */
function checkTypeMeta(api: Api, def: ResourceDef, obj: KubeObject): void {
  const expected = apiVersionOf(def.group, def.version);
  const av = obj.apiVersion;
  if (av !== undefined && av !== expected) {
    const s = String(av);
    const slash = s.indexOf("/");
    const [g, v] = slash === -1 ? ["", s] : [s.slice(0, slash), s.slice(slash + 1)];
    if (g !== def.group || api.registry.get(g, v, def.resource) === undefined) {
      fail(badRequest(`the API version in the data (${s}) does not match the expected API version (${expected})`));
    }
  }
  if (obj.kind !== undefined && obj.kind !== def.kind) {
    if (def.crd !== undefined) {
      fail(invalid(gk(def), String(metaOf(obj).name ?? ""), [{ type: "FieldValueInvalid", field: "kind", badValue: String(obj.kind), detail: `must be ${def.kind}` }]));
    }
    fail(badRequest(`${String(obj.kind)} in version ${JSON.stringify(def.version)} cannot be handled as a ${def.kind}: the kind in the data does not match the endpoint`));
  }
  obj.apiVersion = expected;
  obj.kind = def.kind;
}

/** Prunes and defaults like the decoder; unknown fields become warnings, or a 400 under `fieldValidation=Strict`. */
function decode(def: ResourceDef, obj: KubeObject, fieldValidation: FieldValidation, warnings: string[]): void {
  const unknown = def.schema !== undefined ? pruneAndDefault(obj, def.schema) : pruneObjectMeta(obj.metadata);
  if (unknown.length === 0) return;
  const texts = unknown.map((f) => `unknown field ${JSON.stringify(f)}`);
  if (fieldValidation === "Strict") {
    fail(badRequest(`${def.kind} in version ${JSON.stringify(def.version)} cannot be handled as a ${def.kind}: strict decoding error: ${texts.join(", ")}`));
  }
  if (fieldValidation === "Warn") warnings.push(...texts);
}

function requireBodyObject(body: unknown): KubeObject {
  if (!isObject(body)) fail(badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`));
  return structuredClone(body as KubeObject);
}

function checkNamespace(api: Api, def: ResourceDef, namespace: string | undefined): void {
  // The NamespaceLifecycle plugin runs before any webhook.
  if (def.namespaced && api.store.get("", "namespaces", "", namespace!) === undefined) fail(notFound({ group: "", resource: "namespaces" }, namespace!));
}

/** Everything but `metadata` (and `status` when it has its own endpoint): what a generation bump looks at. */
function generationContent(def: ResourceDef, obj: KubeObject): KubeObject {
  const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = obj;
  if (def.statusSubresource) delete rest.status;
  return rest;
}

/** Schema + metadata (+ CRD) validation of an object about to be stored. */
function validateStored(def: ResourceDef, obj: KubeObject): FieldError[] {
  const errs = validateObjectMeta(obj, def);
  if (def.schema !== undefined) {
    const schemaErrs = validateSchema(obj, def.schema);
    errs.push(...schemaErrs);
    // Like kube-apiserver, CEL rules run only on objects that are structurally valid.
    if (schemaErrs.length === 0) errs.push(...validateCrdRules(obj, def.schema));
  }
  if (def.group === "apiextensions.k8s.io" && def.resource === "customresourcedefinitions") errs.push(...validateCrd(obj));
  return errs;
}

function withoutManagedFields(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  delete metaOf(copy).managedFields;
  delete metaOf(copy).resourceVersion;
  return copy;
}

/**
 * The one admission point of the emulator. Runs the admission handler (mutating → `ctx.validate` → validating)
 * or, without one, just the validate step. Returns the object to store (undefined for DELETE) and all warnings.
 */
async function admit(api: Api, attrs: AdmissionAttributes, validate: (o: KubeObject) => ValidationOutcome): Promise<{ object: KubeObject | undefined; warnings: string[] }> {
  const warnings: string[] = [];
  const check = (r: ValidationOutcome): KubeObject => {
    if (!r.ok) throw new KubeStatusError(r.status);
    return r.object;
  };
  if (api.admission === undefined) {
    if (attrs.operation === "DELETE") return { object: undefined, warnings };
    const r = validate(attrs.object!);
    const object = check(r);
    if (r.ok) warnings.push(...r.warnings);
    return { object, warnings };
  }
  let last: { output: KubeObject; warnings: string[] } | undefined;
  const ctx: AdmissionContext = {
    validate(o) {
      if (attrs.operation === "DELETE") return { ok: true, object: structuredClone(attrs.oldObject!), warnings: [] };
      const r = validate(structuredClone(o));
      if (r.ok) last = { output: structuredClone(r.object), warnings: r.warnings };
      return r;
    },
  };
  const decision = await api.admission(structuredClone(attrs), ctx);
  warnings.push(...(decision.warnings ?? []));
  if (!decision.allowed) throw new KubeStatusError(decision.status, warnings.length === 0 ? {} : { Warning: warnings.map(warningHeader) });
  if (attrs.operation === "DELETE") return { object: undefined, warnings };
  const returned = decision.object ?? attrs.object!;
  if (last !== undefined && isDeepStrictEqual(returned, last.output)) {
    warnings.push(...last.warnings);
    return { object: last.output, warnings };
  }
  const r = validate(structuredClone(returned));
  const object = check(r);
  if (r.ok) warnings.push(...r.warnings);
  return { object, warnings };
}

function baseAttrs(scope: Scope, operation: AdmissionAttributes["operation"], name: string, dryRun: boolean, options: KubeObject): AdmissionAttributes {
  const d = scope.def;
  const attrs: AdmissionAttributes = {
    operation,
    kind: { group: d.group, version: d.version, kind: d.kind },
    resource: { group: d.group, version: d.version, resource: d.resource },
    name,
    userInfo: scope.user,
    dryRun,
    options,
  };
  if (scope.subresource !== undefined) attrs.subResource = scope.subresource;
  if (d.namespaced && scope.namespace !== undefined) attrs.namespace = scope.namespace;
  return attrs;
}

/** Runs after a stored write: keeps served CRD resources in step, and deletes what a deleted CRD served. */
function afterCommit(api: Api, def: ResourceDef, obj: KubeObject, deleted: boolean): void {
  if (def.group !== "apiextensions.k8s.io" || def.resource !== "customresourcedefinitions") return;
  const spec = (obj.spec ?? {}) as KubeObject;
  const plural = String(((spec.names ?? {}) as KubeObject).plural ?? "");
  if (deleted) {
    for (const o of api.store.list(String(spec.group), plural)) api.store.delete(String(spec.group), plural, String(metaOf(o).namespace ?? ""), String(metaOf(o).name));
  }
  syncCrd(api, obj, deleted);
}

/**
 * Top-level fields the endpoint's strategy resets (so field management ignores them): `status` on the main
 * endpoint of a kind with a status subresource; everything but `status` on `/status`.
 */
function resetFields(def: ResourceDef, scope: Scope, a: KubeObject, b: KubeObject | undefined): string[] {
  if (scope.subresource === "status") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b ?? {})]);
    return [...keys].filter((k) => k !== "status" && k !== "metadata" && k !== "apiVersion" && k !== "kind");
  }
  return def.statusSubresource ? ["status"] : [];
}

// ---------------------------------------------------------------- create

type CreateInput = { scope: Scope; object: KubeObject; opts: WriteOptions; warnings: string[]; managed: "update" | "apply" };

async function createObject(api: Api, input: CreateInput): Promise<WriteResult> {
  const { scope, opts, warnings } = input;
  const def = scope.def;
  const now = api.now();
  const uid = randomUUID();
  const suffixName = generateName(String(metaOf(input.object).generateName ?? ""));
  const validate = (o: KubeObject): ValidationOutcome => {
    try {
      const w: string[] = [];
      checkTypeMeta(api, def, o);
      if (def.statusSubresource) delete o.status;
      // Defaults again after dropping status: a status default (Flux's observedGeneration -1) shows on new objects.
      decode(def, o, "Ignore", w);
      const m = metaOf(o);
      if (def.namespaced) m.namespace = scope.namespace;
      else delete m.namespace;
      if ((m.name === undefined || m.name === "") && typeof m.generateName === "string" && m.generateName !== "") m.name = suffixName;
      m.uid = uid;
      m.creationTimestamp = kubeTime(now);
      for (const k of ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"]) delete m[k];
      if (def.generation) m.generation = 1;
      else delete m.generation;
      def.normalize?.(o);
      if (def.group === "apiextensions.k8s.io" && def.resource === "customresourcedefinitions") setCrdStatus(o, now);
      const errs = validateStored(def, o);
      if (errs.length > 0) return { ok: false, status: invalid(gk(def), String(m.name ?? ""), errs) };
      const out =
        input.managed === "update"
          ? recordUpdate({ before: undefined, after: o, manager: opts.fieldManager, operation: "Update", now, apiVersion: apiVersionOf(def.group, def.version), resetFields: resetFields(def, scope, o, undefined) })
          : o;
      return { ok: true, object: out, warnings: w };
    } catch (e) {
      if (e instanceof KubeStatusError) return { ok: false, status: e.status };
      throw e;
    }
  };
  const meta = metaOf(input.object);
  const attrs = baseAttrs(scope, "CREATE", String(meta.name ?? ""), opts.dryRun, optionsObject("CreateOptions", opts));
  attrs.object = input.object;
  const admitted = await admit(api, attrs, validate);
  warnings.push(...admitted.warnings);
  const obj = admitted.object!;
  const m = metaOf(obj);
  const name = String(m.name);
  if (api.store.get(def.group, def.resource, String(m.namespace ?? ""), name) !== undefined) fail(alreadyExists(gr(def), name));
  if (opts.dryRun) return { code: 201, body: atVersion(obj, def), warnings };
  const stored = api.store.create(def.group, def.resource, atStorageVersion(obj, def));
  afterCommit(api, def, stored, false);
  return { code: 201, body: atVersion(stored, def), warnings };
}

/** `POST` to a collection. */
export async function create(api: Api, scope: Scope, body: unknown): Promise<WriteResult> {
  const opts = parseOptions(scope, "CreateOptions");
  const warnings: string[] = [];
  const obj = requireBodyObject(body);
  checkTypeMeta(api, scope.def, obj);
  const meta = metaOf(obj);
  if (scope.def.namespaced) {
    if (meta.namespace !== undefined && meta.namespace !== "" && meta.namespace !== scope.namespace) {
      fail(badRequest("the namespace of the provided object does not match the namespace sent on the request"));
    }
    meta.namespace = scope.namespace;
  }
  decode(scope.def, obj, opts.fieldValidation, warnings);
  checkNamespace(api, scope.def, scope.namespace);
  return createObject(api, { scope, object: obj, opts, warnings, managed: "update" });
}

// ---------------------------------------------------------------- update

type UpdateInput = {
  scope: Scope;
  existing: KubeObject;
  object: KubeObject;
  opts: WriteOptions;
  warnings: string[];
  managed: "update" | "apply";
  /** PUT must carry a resourceVersion for CRs; a patch inherits the live one. */
  requireResourceVersion: boolean;
};

async function updateObject(api: Api, input: UpdateInput): Promise<WriteResult> {
  const { scope, opts, warnings, existing } = input;
  const def = scope.def;
  const now = api.now();
  const name = String(metaOf(existing).name);
  const oldAtVersion = atVersion(existing, def);
  const validate = (incoming: KubeObject): ValidationOutcome => {
    try {
      const w: string[] = [];
      let o = incoming;
      checkTypeMeta(api, def, o);
      decode(def, o, "Ignore", w);
      const oldMeta = metaOf(existing);
      const rv = metaOf(o).resourceVersion;
      if (rv === undefined || rv === "") {
        if (input.requireResourceVersion && !def.unconditionalUpdate) {
          return { ok: false, status: invalid(gk(def), name, [{ type: "FieldValueInvalid", field: "metadata.resourceVersion", badValue: 0, printed: "0x0", detail: "must be specified for an update" }]) };
        }
      } else if (String(rv) !== String(oldMeta.resourceVersion)) {
        return { ok: false, status: conflict(gr(def), name, OBJECT_MODIFIED) };
      }
      if (scope.subresource === "status") {
        // Only status (and the caller's managedFields) comes from the request; everything else is the stored object.
        const managedFields = metaOf(o).managedFields;
        const status = o.status;
        o = structuredClone(oldAtVersion);
        if (managedFields !== undefined) metaOf(o).managedFields = managedFields;
        else delete metaOf(o).managedFields;
        if (status !== undefined) o.status = status;
        else delete o.status;
      } else if (def.statusSubresource) {
        if (existing.status !== undefined) o.status = structuredClone(existing.status);
        else delete o.status;
      }
      const m = metaOf(o);
      m.name = name;
      if (def.namespaced) m.namespace = oldMeta.namespace;
      else delete m.namespace;
      if (m.uid === undefined || m.uid === "") m.uid = oldMeta.uid;
      else if (m.uid !== oldMeta.uid) {
        return { ok: false, status: invalid(gk(def), name, [{ type: "FieldValueInvalid", field: "metadata.uid", badValue: String(m.uid), detail: "field is immutable" }]) };
      }
      m.creationTimestamp = oldMeta.creationTimestamp;
      for (const k of ["deletionTimestamp", "deletionGracePeriodSeconds"]) {
        if (oldMeta[k] !== undefined) m[k] = oldMeta[k];
        else delete m[k];
      }
      delete m.selfLink;
      m.resourceVersion = oldMeta.resourceVersion;
      if (oldMeta.deletionTimestamp !== undefined) {
        const before = new Set(Array.isArray(oldMeta.finalizers) ? (oldMeta.finalizers as string[]) : []);
        const added = (Array.isArray(m.finalizers) ? (m.finalizers as string[]) : []).filter((f) => !before.has(f));
        if (added.length > 0) {
          return { ok: false, status: invalid(gk(def), name, [{ type: "FieldValueForbidden", field: "metadata.finalizers", detail: "no new finalizers can be added if the object is being deleted" }]) };
        }
      }
      if (def.generation) {
        const g = Number(oldMeta.generation ?? 1);
        m.generation = isDeepStrictEqual(generationContent(def, o), generationContent(def, existing)) ? g : g + 1;
      } else delete m.generation;
      def.normalize?.(o);
      if (def.group === "apiextensions.k8s.io" && def.resource === "customresourcedefinitions") setCrdStatus(o, now);
      const errs = validateStored(def, o);
      if (errs.length > 0) return { ok: false, status: invalid(gk(def), name, errs) };
      const out =
        input.managed === "update"
          ? recordUpdate({
            resetFields: resetFields(def, scope, o, oldAtVersion),
            before: oldAtVersion,
            after: o,
            manager: opts.fieldManager,
            operation: "Update",
            now,
            apiVersion: apiVersionOf(def.group, def.version),
            ...(scope.subresource === undefined ? {} : { subresource: scope.subresource }),
          })
        : o;
      return { ok: true, object: out, warnings: w };
    } catch (e) {
      if (e instanceof KubeStatusError) return { ok: false, status: e.status };
      throw e;
    }
  };
  const attrs = baseAttrs(scope, "UPDATE", name, opts.dryRun, optionsObject("UpdateOptions", opts));
  attrs.object = input.object;
  attrs.oldObject = oldAtVersion;
  const admitted = await admit(api, attrs, validate);
  warnings.push(...admitted.warnings);
  const obj = admitted.object!;
  // Admission may have awaited (webhooks): like etcd's compare-and-swap, a write based on a state that changed
  // meanwhile is a conflict (PUT) or is redone on the new state (patch, apply).
  const current = api.store.get(def.group, def.resource, String(metaOf(existing).namespace ?? ""), name);
  if (current === undefined) fail(notFound(gr(def), name));
  if (metaOf(current!).resourceVersion !== metaOf(existing).resourceVersion) {
    if (input.requireResourceVersion) fail(conflict(gr(def), name, OBJECT_MODIFIED));
    throw new ConcurrentChange();
  }
  // A write that changes nothing stored is a no-op: no new resourceVersion, no watch event.
  if (isDeepStrictEqual(withoutManagedFields(atStorageVersion(obj, def)), withoutManagedFields(existing))) {
    return { code: 200, body: oldAtVersion, warnings };
  }
  const oldMeta = metaOf(existing);
  const finalizers = metaOf(obj).finalizers;
  if (oldMeta.deletionTimestamp !== undefined && (!Array.isArray(finalizers) || finalizers.length === 0)) {
    // The last finalizer is gone: kube-apiserver deletes instead of updating and answers with the stored object.
    if (!opts.dryRun) {
      api.store.delete(def.group, def.resource, String(oldMeta.namespace ?? ""), name);
      afterCommit(api, def, existing, true);
      cascadeNamespace(api, def, existing);
    }
    return { code: 200, body: oldAtVersion, warnings };
  }
  if (opts.dryRun) return { code: 200, body: atVersion(obj, def), warnings };
  const stored = api.store.update(def.group, def.resource, atStorageVersion(obj, def));
  afterCommit(api, def, stored, false);
  return { code: 200, body: atVersion(stored, def), warnings };
}

function getExisting(api: Api, scope: Scope): KubeObject {
  const def = scope.def;
  const existing = api.store.get(def.group, def.resource, scope.namespace ?? "", scope.name!);
  if (existing === undefined) fail(notFound(gr(def), scope.name!));
  return existing!;
}

/** `PUT` to an item or its status. */
export async function update(api: Api, scope: Scope, body: unknown): Promise<WriteResult> {
  const opts = parseOptions(scope, "UpdateOptions");
  const warnings: string[] = [];
  const obj = requireBodyObject(body);
  checkTypeMeta(api, scope.def, obj);
  const meta = metaOf(obj);
  if (scope.def.namespaced && meta.namespace !== undefined && meta.namespace !== "" && meta.namespace !== scope.namespace) {
    fail(badRequest("the namespace of the provided object does not match the namespace sent on the request"));
  }
  if (meta.name !== undefined && meta.name !== scope.name) fail(badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${scope.name})`));
  decode(scope.def, obj, opts.fieldValidation, warnings);
  const existing = getExisting(api, scope);
  return updateObject(api, { scope, existing, object: obj, opts, warnings, managed: "update", requireResourceVersion: true });
}

// ---------------------------------------------------------------- patch

function acceptedPatchTypes(def: ResourceDef): string[] {
  return def.strategicMerge ? [JSON_PATCH, MERGE_PATCH, STRATEGIC, APPLY] : [JSON_PATCH, MERGE_PATCH, APPLY];
}

function parsePatchBody(raw: string, type: string): unknown {
  try {
    return type === APPLY ? load(raw) : JSON.parse(raw);
  } catch (e) {
    return fail(badRequest(type === APPLY ? `error decoding YAML: ${(e as Error).message}` : `error decoding patch: ${(e as Error).message}`));
  }
}

/** The object changed while this patch waited for admission: it is applied again to the new state. */
class ConcurrentChange extends Error {
  override name = "ConcurrentChange";
}

const PATCH_ATTEMPTS = 5;

/** `PATCH` of an item or its status (retried on the newest state when it changed during admission). */
export async function patch(api: Api, scope: Scope, contentType: string, raw: string): Promise<WriteResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await patchOnce(api, scope, contentType, raw);
    } catch (e) {
      if (!(e instanceof ConcurrentChange)) throw e;
      if (attempt === PATCH_ATTEMPTS) return fail(conflict(gr(scope.def), scope.name!, OBJECT_MODIFIED));
    }
  }
}

async function patchOnce(api: Api, scope: Scope, contentType: string, raw: string): Promise<WriteResult> {
  const def = scope.def;
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (!acceptedPatchTypes(def).includes(type)) fail(unsupportedMediaType(acceptedPatchTypes(def)));
  const opts = parseOptions(scope, "PatchOptions", type);
  const warnings: string[] = [];
  const body = parsePatchBody(raw, type);
  const live = api.store.get(def.group, def.resource, scope.namespace ?? "", scope.name!);

  if (type === APPLY) return applyPatch(api, scope, body, live, opts, warnings);
  if (live === undefined) fail(notFound(gr(def), scope.name!));
  const current = atVersion(live!, def);
  let patched: unknown;
  if (type === JSON_PATCH) {
    const problem = jsonPatchShapeProblem(body);
    if (problem !== undefined) fail(badRequest(problem));
    const ops = body as unknown[];
    if (ops.length > MAX_JSON_PATCH_OPS) fail(tooLarge(`The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPS}, got ${ops.length}`));
    patched = applyJsonPatch(current, ops);
    if (patched === undefined) fail(jsonPatchFailed());
  } else {
    const p = type === STRATEGIC ? strategicAsMergePatch(body) : body;
    if (!isObject(p)) fail(badRequest("error decoding patch: the patch is not a JSON object"));
    patched = mergePatch(current, p);
  }
  const obj = requireBodyObject(patched);
  checkTypeMeta(api, def, obj);
  const meta = metaOf(obj);
  if (meta.name !== scope.name) fail(badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${scope.name})`));
  if (def.namespaced && meta.namespace !== scope.namespace) fail(badRequest("the namespace of the provided object does not match the namespace sent on the request"));
  if (meta.resourceVersion === undefined) meta.resourceVersion = metaOf(live!).resourceVersion;
  decode(def, obj, opts.fieldValidation, warnings);
  return updateObject(api, { scope, existing: live!, object: obj, opts, warnings, managed: "update", requireResourceVersion: false });
}

async function applyPatch(api: Api, scope: Scope, body: unknown, live: KubeObject | undefined, opts: WriteOptions, warnings: string[]): Promise<WriteResult> {
  const def = scope.def;
  if (!isObject(body)) fail(badRequest("error decoding YAML: the apply configuration is not an object"));
  const applied = structuredClone(body as KubeObject);
  checkTypeMeta(api, def, applied);
  const meta = metaOf(applied);
  if (meta.name !== undefined && meta.name !== scope.name) fail(badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${scope.name})`));
  meta.name = scope.name;
  if (def.namespaced) {
    if (meta.namespace !== undefined && meta.namespace !== scope.namespace) fail(badRequest("the namespace of the provided object does not match the namespace sent on the request"));
    meta.namespace = scope.namespace;
  }
  decode(def, applied, opts.fieldValidation, warnings);
  if (live === undefined && scope.subresource !== undefined) fail(notFound(gr(def), scope.name!));
  const liveAtVersion = live === undefined ? undefined : atVersion(live, def);
  let result: ReturnType<typeof serverSideApply>;
  try {
    result = serverSideApply({
      live: liveAtVersion,
      applied,
      manager: opts.fieldManager,
      force: opts.force,
      now: api.now(),
      apiVersion: apiVersionOf(def.group, def.version),
      resetFields: resetFields(def, scope, applied, liveAtVersion),
      ...(scope.subresource === undefined ? {} : { subresource: scope.subresource }),
    });
  } catch (e) {
    if (e instanceof ApplyBadRequestError) return fail(badRequest(e.message));
    throw e;
  }
  if (!result.ok) return fail(applyConflict(result.conflicts, applyConflictMessage(result.conflicts)));
  const obj = result.object;
  if (live === undefined) {
    checkNamespace(api, def, scope.namespace);
    return createObject(api, { scope, object: obj, opts, warnings, managed: "apply" });
  }
  if (metaOf(obj).resourceVersion === undefined) metaOf(obj).resourceVersion = metaOf(live).resourceVersion;
  return updateObject(api, { scope, existing: live, object: obj, opts, warnings, managed: "apply", requireResourceVersion: false });
}

// ---------------------------------------------------------------- delete

type DeleteBody = { preconditions?: { uid?: string; resourceVersion?: string }; propagationPolicy?: string; gracePeriodSeconds?: number; dryRun?: string[] };

/** Deletes every namespaced object of a namespace that just went away (the emulator's stand-in for the namespace controller). */
function cascadeNamespace(api: Api, def: ResourceDef, ns: KubeObject): void {
  if (def.group !== "" || def.resource !== "namespaces") return;
  const name = String(metaOf(ns).name);
  for (const r of namespacedResources(api)) {
    for (const o of api.store.list(r.group, r.resource, name)) api.store.delete(r.group, r.resource, name, String(metaOf(o).name));
  }
}

async function deleteOne(api: Api, scope: Scope, found: KubeObject, opts: WriteOptions, body: DeleteBody): Promise<WriteResult> {
  const def = scope.def;
  let existing = found;
  let meta = metaOf(existing);
  const name = String(meta.name);
  const pre = body.preconditions ?? {};
  if (pre.uid !== undefined && pre.uid !== meta.uid) {
    fail(conflict(gr(def), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(meta.uid)}`));
  }
  if (pre.resourceVersion !== undefined && pre.resourceVersion !== meta.resourceVersion) {
    fail(conflict(gr(def), name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(meta.resourceVersion)}`));
  }
  const extra: KubeObject = {};
  if (body.propagationPolicy !== undefined) extra.propagationPolicy = body.propagationPolicy;
  if (body.gracePeriodSeconds !== undefined) extra.gracePeriodSeconds = body.gracePeriodSeconds;
  if (body.preconditions !== undefined) extra.preconditions = body.preconditions;
  const attrs = baseAttrs({ ...scope, name }, "DELETE", name, opts.dryRun, optionsObject("DeleteOptions", opts, extra));
  attrs.oldObject = atVersion(existing, def);
  if (!def.namespaced) delete attrs.namespace;
  else attrs.namespace = String(meta.namespace);
  const { warnings } = await admit(api, attrs, () => ({ ok: true, object: atVersion(existing, def), warnings: [] }));
  // Decide on the state after admission (which may have awaited).
  const now = api.store.get(def.group, def.resource, String(meta.namespace ?? ""), name);
  if (now === undefined) fail(notFound(gr(def), name));
  existing = now!;
  meta = metaOf(existing);
  const finalizers = Array.isArray(meta.finalizers) ? meta.finalizers : [];
  if (finalizers.length > 0) {
    if (meta.deletionTimestamp !== undefined) return { code: 200, body: atVersion(existing, def), warnings };
    const marked = structuredClone(existing);
    const m = metaOf(marked);
    m.deletionTimestamp = kubeTime(api.now());
    m.deletionGracePeriodSeconds = 0;
    if (def.generation) m.generation = Number(m.generation ?? 1) + 1;
    if (def.group === "" && def.resource === "namespaces") (marked.status as KubeObject).phase = "Terminating";
    if (opts.dryRun) return { code: 200, body: atVersion(marked, def), warnings };
    const stored = api.store.update(def.group, def.resource, marked);
    return { code: 200, body: atVersion(stored, def), warnings };
  }
  if (def.group === "" && def.resource === "namespaces") {
    // Simplified namespace lifecycle: the namespace and everything in it go at once; the answer is the namespace
    // as kube-apiserver returns it when deletion starts (Terminating).
    const answer = atVersion(existing, def);
    metaOf(answer).deletionTimestamp = kubeTime(api.now());
    (answer.status as KubeObject).phase = "Terminating";
    if (!opts.dryRun) {
      cascadeNamespace(api, def, existing);
      api.store.delete(def.group, def.resource, "", name);
    }
    return { code: 200, body: answer, warnings };
  }
  if (!opts.dryRun) {
    api.store.delete(def.group, def.resource, String(meta.namespace ?? ""), name);
    afterCommit(api, def, existing, true);
  }
  return { code: 200, body: deleteSuccess(gr(def), name, String(meta.uid)), warnings };
}

function parseDeleteBody(raw: string): DeleteBody {
  if (raw.trim() === "") return {};
  let b: unknown;
  try {
    b = JSON.parse(raw);
  } catch (e) {
    return fail(badRequest(`error decoding DeleteOptions: ${(e as Error).message}`));
  }
  if (!isObject(b)) fail(badRequest("error decoding DeleteOptions: not an object"));
  return b as DeleteBody;
}

function deleteOptions(scope: Scope, body: DeleteBody): WriteOptions {
  if (Array.isArray(body.dryRun)) for (const v of body.dryRun) scope.query.append("dryRun", String(v));
  return parseOptions(scope, "DeleteOptions");
}

/** `DELETE` of an item (body: optional DeleteOptions with `preconditions`). */
export async function remove(api: Api, scope: Scope, raw: string): Promise<WriteResult> {
  const body = parseDeleteBody(raw);
  const opts = deleteOptions(scope, body);
  const existing = getExisting(api, scope);
  return deleteOne(api, scope, existing, opts, body);
}

/** `DELETE` of a collection: deletes what the selectors match, answers the list of what was deleted. */
export async function removeCollection(api: Api, scope: Scope, raw: string, items: KubeObject[]): Promise<WriteResult> {
  const body = parseDeleteBody(raw);
  const opts = deleteOptions(scope, body);
  const def = scope.def;
  const deleted: KubeObject[] = [];
  const warnings: string[] = [];
  for (const item of items) {
    const r = await deleteOne(api, { ...scope, namespace: String(metaOf(item).namespace ?? "") || undefined } as Scope, item, opts, body);
    warnings.push(...r.warnings);
    deleted.push(atVersion(item, def));
  }
  return {
    code: 200,
    body: { apiVersion: apiVersionOf(def.group, def.version), kind: def.listKind, metadata: { resourceVersion: String(api.store.revision) }, items: deleted },
    warnings,
  };
}
