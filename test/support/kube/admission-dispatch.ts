/**
 * Admission webhooks called the way kube-apiserver calls them (kubernetes/apiserver `pkg/admission/plugin/webhook`:
 * `generic/webhook.go` matching, `predicates/rules`, `mutating` and `validating` dispatchers,
 * `request/admissionreview.go`, `errors/statuserror.go`; admission.md §1–§3), for the emulator's write path:
 * mutating webhooks one after the other (configurations sorted by name, webhooks in order, one `IfNeeded`
 * reinvocation round), then the emulator's own defaulting/validation (`env.validate`), then validating webhooks in
 * parallel (the first error to arrive wins). Every call is a real HTTPS POST of an `AdmissionReview`.
 *
 * Simplifications, on purpose:
 * - `matchPolicy: Equivalent` knows other versions of a resource from `env.servedVersions` (else the versions the
 *   webhook's rules name) and converts like a CRD with `conversion: None`: only `apiVersion` is rewritten, both
 *   ways. `kind`/`resource` carry the webhook's version, `requestKind`/`requestResource` the request's.
 * - `matchConditions` run through the CEL subset in `match-conditions.ts` (no `authorizer`, no macros).
 * - No metrics and no audit annotations of the apiserver's own (`mutation.webhook.admission.k8s.io/…`,
 *   `failed-open.…`); the outcome carries only what webhooks return, keyed `<webhook name>/<key>`.
 * - Transport errors are worded like Go's (`dial tcp 127.0.0.1:1: connect: connection refused`, `x509: certificate
 *   signed by unknown authority`, `context deadline exceeded`) for the common cases; others keep the runtime's text.
 */
import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { isDeepStrictEqual } from "node:util";
import fastJsonPatch from "fast-json-patch";
import { z } from "zod";
import type { AdmissionAttributes, KubeObject, StatusBody, ValidationOutcome } from "./admission-types.ts";
import { CelEvalError, compileCel } from "./match-conditions.ts";

/** `clientConfig.service` with the defaults filled in (port 443). */
export type ServiceRef = { namespace: string; name: string; port: number; path?: string };

export type AdmissionEnv = {
  /** Stored `ValidatingWebhookConfiguration` objects (admissionregistration.k8s.io/v1). */
  validating: KubeObject[];
  /** Stored `MutatingWebhookConfiguration` objects. */
  mutating: KubeObject[];
  /** Labels of a namespace; undefined when it does not exist (a webhook with a namespaceSelector then answers 404). */
  namespaceLabels(ns: string): Record<string, string> | undefined;
  /**
   * Where `<svc>.<ns>.svc` really is: an https base URL (`https://127.0.0.1:40123`) to connect to. TLS still sends
   * SNI and checks the certificate for `<svc>.<ns>.svc`. Undefined (or no resolver) fails like an unknown host.
   */
  resolveService?(ref: ServiceRef): string | undefined;
  /**
   * The server's own step between the phases (defaulting, metadata fill-in, schema validation): a failure stops
   * admission with its Status; on success validating webhooks see the object it returns.
   */
  validate?(object: KubeObject): ValidationOutcome;
  /** Versions served for a group/resource, for `matchPolicy: Equivalent`. */
  servedVersions?(group: string, resource: string): string[];
};

/** Admission's verdict: the object to store (absent for DELETE) with warnings and audit annotations, or a Status. */
export type AdmissionOutcome =
  | { allowed: true; object?: KubeObject; warnings: string[]; auditAnnotations: Record<string, string> }
  | { allowed: false; status: StatusBody; warnings: string[] };

/**
 * Runs admission for one write. Never throws for webhook trouble: call errors follow `failurePolicy`, rejections
 * and bad patches become the Status kube-apiserver would answer with.
 * @example
 * const out = await dispatchAdmission(attrs, { validating: vwcs, mutating: mwcs, namespaceLabels: (ns) => labelsOf(ns) })
 * if (!out.allowed) throw new KubeStatusError(out.status)
 */
export async function dispatchAdmission(attrs: AdmissionAttributes, env: AdmissionEnv): Promise<AdmissionOutcome> {
  const warnings = new Set<string>();
  const auditAnnotations: Record<string, string> = {};
  const exempt = isExempt(attrs);
  const deny = (status: StatusBody): AdmissionOutcome => ({ allowed: false, status, warnings: [...warnings] });
  let object = attrs.object === undefined ? undefined : structuredClone(attrs.object);

  if (!exempt) {
    const hooks = parseConfigurations(env.mutating, true);
    const previouslyInvoked = new Set<string>();
    const reinvoke = new Set<string>();
    let reinvokeRound = false;
    for (const round of [0, 1]) {
      if (round === 1 && !reinvokeRound) break;
      for (const hook of hooks) {
        const matched = match(hook, attrs, object, env);
        if ("status" in matched) return deny(matched.status);
        if (matched.invocation === undefined) continue;
        // A webhook skipped in round 0 is never called in round 1, and only IfNeeded ones called before a change are.
        if (round === 1 && !reinvoke.has(hook.uid)) continue;
        const result = await callMutating(hook, matched.invocation, attrs, object, env, warnings, auditAnnotations);
        if (result.changed) {
          for (const uid of previouslyInvoked) reinvoke.add(uid);
          previouslyInvoked.clear();
          reinvokeRound = true;
        }
        if (hook.def.reinvocationPolicy === "IfNeeded") previouslyInvoked.add(hook.uid);
        if (result.failure !== undefined) {
          const stop = failureStatus(hook, result.failure);
          if (stop !== undefined) return deny(stop);
          continue;
        }
        object = result.object;
      }
    }
  }

  if (object !== undefined && attrs.operation !== "DELETE" && env.validate !== undefined) {
    const validated = env.validate(object);
    if (!validated.ok) return deny(validated.status);
    object = validated.object;
    for (const w of validated.warnings) warnings.add(w);
  }

  if (!exempt) {
    const invocations: Array<{ hook: Hook; invocation: Invocation }> = [];
    for (const hook of parseConfigurations(env.validating, false)) {
      const matched = match(hook, attrs, object, env);
      if ("status" in matched) return deny(matched.status);
      if (matched.invocation !== undefined) invocations.push({ hook, invocation: matched.invocation });
    }
    const errors: StatusBody[] = [];
    await Promise.all(
      invocations.map(async ({ hook, invocation }) => {
        const failure = await callValidating(hook, invocation, attrs, object, env, warnings, auditAnnotations);
        const stop = failure === undefined ? undefined : failureStatus(hook, failure);
        if (stop !== undefined) errors.push(stop);
      }),
    );
    if (errors.length > 0) return deny(errors[0]!);
  }

  return { allowed: true, ...(object === undefined ? {} : { object }), warnings: [...warnings], auditAnnotations };
}

// --- configurations ------------------------------------------------------------------------------------------

const LabelSelectorSchema = z.object({
  matchLabels: z.record(z.string(), z.string()).nullish(),
  matchExpressions: z
    .array(z.object({ key: z.string(), operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]), values: z.array(z.string()).nullish() }))
    .nullish(),
});

const RuleSchema = z.object({
  operations: z.array(z.string()).nullish(),
  apiGroups: z.array(z.string()).nullish(),
  apiVersions: z.array(z.string()).nullish(),
  resources: z.array(z.string()).nullish(),
  scope: z.enum(["Cluster", "Namespaced", "*"]).nullish(),
});

const WebhookSchema = z.object({
  name: z.string(),
  clientConfig: z.object({
    url: z.string().nullish(),
    service: z.object({ namespace: z.string(), name: z.string(), path: z.string().nullish(), port: z.number().int().nullish() }).nullish(),
    caBundle: z.string().nullish(),
  }),
  rules: z.array(RuleSchema).nullish(),
  failurePolicy: z.enum(["Fail", "Ignore"]).nullish(),
  matchPolicy: z.enum(["Exact", "Equivalent"]).nullish(),
  namespaceSelector: LabelSelectorSchema.nullish(),
  objectSelector: LabelSelectorSchema.nullish(),
  sideEffects: z.string().nullish(),
  timeoutSeconds: z.number().int().nullish(),
  admissionReviewVersions: z.array(z.string()).nullish(),
  reinvocationPolicy: z.enum(["Never", "IfNeeded"]).nullish(),
  matchConditions: z.array(z.object({ name: z.string(), expression: z.string() })).nullish(),
});

const ConfigurationSchema = z.object({ metadata: z.object({ name: z.string() }), webhooks: z.array(WebhookSchema).nullish() });

type WebhookDef = z.infer<typeof WebhookSchema>;
type LabelSelectorDef = z.infer<typeof LabelSelectorSchema>;
type Hook = { uid: string; configuration: string; def: WebhookDef; mutating: boolean };
type GVK = { group: string; version: string; kind: string };
type GVR = { group: string; version: string; resource: string };
type Invocation = { kind: GVK; resource: GVR };

/** Webhooks of all configurations, configurations sorted by name (as the configuration managers do), hooks in order. */
function parseConfigurations(configs: KubeObject[], mutating: boolean): Hook[] {
  const parsed = configs.map((c) => {
    const r = ConfigurationSchema.safeParse(c);
    if (!r.success) throw new Error(`unusable ${mutating ? "Mutating" : "Validating"}WebhookConfiguration: ${z.prettifyError(r.error)}`);
    return r.data;
  });
  parsed.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  return parsed.flatMap((c) => (c.webhooks ?? []).map((def, i) => ({ uid: `${c.metadata.name}/${i}/${def.name}`, configuration: c.metadata.name, def, mutating })));
}

/** Webhook and policy configurations never go through webhooks, so a broken webhook can always be removed. */
function isExempt(attrs: AdmissionAttributes): boolean {
  return (
    attrs.kind.group === "admissionregistration.k8s.io" &&
    ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"].includes(
      attrs.kind.kind,
    )
  );
}

// --- matching (generic/webhook.go ShouldCallHook) --------------------------------------------------------------

type MatchResult = { invocation?: Invocation } | { status: StatusBody };

function match(hook: Hook, attrs: AdmissionAttributes, object: KubeObject | undefined, env: AdmissionEnv): MatchResult {
  const nsMatch = namespaceMatches(hook.def, attrs, object, env);
  if (nsMatch === false) return {};
  const objMatch = selectorIsEmpty(hook.def.objectSelector) || labelsMatch(hook.def.objectSelector, labelsOf(object)) || labelsMatch(hook.def.objectSelector, labelsOf(attrs.oldObject));
  if (!objMatch) return {};
  const invocation = matchRules(hook.def, attrs, env);
  if (invocation === undefined) return {};
  // A missing namespace only matters for webhooks whose rules match (as in kube-apiserver).
  if (nsMatch !== true) return { status: nsMatch };
  const conditions = hook.def.matchConditions ?? [];
  if (conditions.length === 0) return { invocation };
  const vars = {
    object: versioned(object, invocation.kind) ?? null,
    oldObject: versioned(attrs.oldObject, invocation.kind) ?? null,
    request: reviewRequest("", attrs, invocation, object),
  };
  const errors: string[] = [];
  for (const c of conditions) {
    try {
      const v = compileCel(c.expression)(vars);
      if (v === false) return {};
      if (v !== true) errors.push(`expression '${c.expression}' resulted in error: no matching overload`);
    } catch (e) {
      if (!(e instanceof CelEvalError)) throw e;
      errors.push(`expression '${c.expression}' resulted in error: ${e.message}`);
    }
  }
  if (errors.length === 0) return { invocation };
  if (hook.def.failurePolicy === "Ignore") return {};
  return { status: forbidden(attrs, errors.length === 1 ? errors[0]! : `[${errors.join(", ")}]`) };
}

function namespaceMatches(def: WebhookDef, attrs: AdmissionAttributes, object: KubeObject | undefined, env: AdmissionEnv): boolean | StatusBody {
  const isNamespace = attrs.resource.resource === "namespaces";
  const ns = attrs.namespace || (isNamespace ? attrs.name : "");
  if (ns === "" && !isNamespace) return true; // other cluster-scoped objects are never exempted
  if (selectorIsEmpty(def.namespaceSelector)) return true;
  let labels: Record<string, string> | undefined;
  if (isNamespace && !attrs.subResource && (attrs.operation === "CREATE" || attrs.operation === "UPDATE")) labels = labelsOf(object);
  else {
    labels = env.namespaceLabels(ns);
    if (labels === undefined) return status(404, "NotFound", `namespaces ${JSON.stringify(ns)} not found`, { name: ns, kind: "namespaces" });
  }
  return labelsMatch(def.namespaceSelector, labels);
}

function selectorIsEmpty(s: LabelSelectorDef | null | undefined): boolean {
  return s == null || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);
}

function labelsMatch(s: LabelSelectorDef | null | undefined, labels: Record<string, string> | undefined): boolean {
  if (s == null) return true;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of s.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const values = e.values ?? [];
    if (e.operator === "In" && !(has && values.includes(l[e.key]!))) return false;
    if (e.operator === "NotIn" && has && values.includes(l[e.key]!)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

function labelsOf(obj: KubeObject | undefined): Record<string, string> | undefined {
  const meta = obj?.["metadata"];
  if (typeof meta !== "object" || meta === null) return undefined;
  const labels = (meta as Record<string, unknown>)["labels"];
  return typeof labels === "object" && labels !== null ? (labels as Record<string, string>) : undefined;
}

/** Exact rule match first; under `Equivalent` (the default) the same group/resource in another served version. */
function matchRules(def: WebhookDef, attrs: AdmissionAttributes, env: AdmissionEnv): Invocation | undefined {
  const rules = def.rules ?? [];
  if (rules.some((r) => ruleMatches(r, attrs, attrs.resource))) return { kind: attrs.kind, resource: attrs.resource };
  if ((def.matchPolicy ?? "Equivalent") !== "Equivalent") return undefined;
  const named = rules.flatMap((r) => (r.apiVersions ?? []).filter((v) => v !== "*"));
  const versions = env.servedVersions?.(attrs.resource.group, attrs.resource.resource) ?? [...new Set(named)];
  for (const rule of rules) {
    for (const version of versions) {
      if (version === attrs.resource.version) continue;
      const resource = { ...attrs.resource, version };
      if (ruleMatches(rule, attrs, resource)) return { kind: { ...attrs.kind, version }, resource };
    }
  }
  return undefined;
}

/** `predicates/rules/rules.go`: scope, operation, group, version, resource (`*` = no subresources, `x/*`, `*\/status`). */
function ruleMatches(rule: z.infer<typeof RuleSchema>, attrs: AdmissionAttributes, resource: GVR): boolean {
  const ns = attrs.namespace ?? "";
  const isNamespaceObject = resource.group === "" && resource.version === "v1" && resource.resource === "namespaces";
  const scope = rule.scope ?? "*";
  if (scope === "Namespaced" && (isNamespaceObject || ns === "")) return false;
  if (scope === "Cluster" && !(isNamespaceObject || ns === "")) return false;
  const anyOf = (items: readonly string[] | null | undefined, wanted: string): boolean => (items ?? []).some((i) => i === "*" || i === wanted);
  if (!anyOf(rule.operations, attrs.operation)) return false;
  if (!anyOf(rule.apiGroups, resource.group)) return false;
  if (!anyOf(rule.apiVersions, resource.version)) return false;
  return (rule.resources ?? []).some((r) => {
    const slash = r.indexOf("/");
    const [res, sub] = slash === -1 ? [r, ""] : [r.slice(0, slash), r.slice(slash + 1)];
    return (res === "*" || res === resource.resource) && (sub === "*" || sub === (attrs.subResource ?? ""));
  });
}

// --- the call -------------------------------------------------------------------------------------------------

/** Why a call did not produce a usable answer; `failureStatus` turns it into the client's Status (or nothing). */
type Failure =
  /** Transport, HTTP or response-shape trouble: subject to failurePolicy. */
  | { kind: "call"; reason: string }
  /** The webhook said no. */
  | { kind: "rejected"; status: StatusBody }
  /** Always a 500 whatever the failurePolicy (a patch that does not apply, a patch on DELETE). */
  | { kind: "internal"; message: string }
  /** Answered as is (dry run on a webhook with side effects). */
  | { kind: "status"; status: StatusBody };

function failureStatus(hook: Hook, f: Failure): StatusBody | undefined {
  switch (f.kind) {
    case "call":
      if (hook.def.failurePolicy === "Ignore") return undefined;
      return internalError(`failed calling webhook ${JSON.stringify(hook.def.name)}: ${f.reason}`);
    case "internal":
      return internalError(f.message);
    case "rejected":
    case "status":
      return f.status;
  }
}

type Answer = { allowed: boolean; status?: Record<string, unknown> | null; patch?: string | null; patchType?: string | null };

/** The common part of a call: dry-run gate, POST, response verification, warnings and audit annotations. */
async function exchange(
  hook: Hook,
  invocation: Invocation,
  attrs: AdmissionAttributes,
  object: KubeObject | undefined,
  env: AdmissionEnv,
  warnings: Set<string>,
  auditAnnotations: Record<string, string>,
): Promise<{ answer: Answer } | { failure: Failure }> {
  if (attrs.dryRun) {
    if (hook.def.sideEffects == null) return { failure: { kind: "call", reason: "Webhook SideEffects is nil" } };
    if (hook.def.sideEffects !== "None" && hook.def.sideEffects !== "NoneOnDryRun") {
      return { failure: { kind: "status", status: status(400, "BadRequest", `admission webhook ${JSON.stringify(hook.def.name)} does not support dry run`) } };
    }
  }
  const version = (hook.def.admissionReviewVersions ?? []).find((v) => v === "v1" || v === "v1beta1");
  if (version === undefined) return { failure: { kind: "call", reason: "could not create admission objects: webhook does not accept known AdmissionReview versions (v1, v1beta1)" } };
  const uid = randomUUID();
  const review = { kind: "AdmissionReview", apiVersion: `admission.k8s.io/${version}`, request: reviewRequest(uid, attrs, invocation, object) };
  const reply = await post(hook.def, JSON.stringify(review), env);
  if ("clientError" in reply) return { failure: { kind: "call", reason: `could not get REST client: ${reply.clientError}` } };
  if ("error" in reply) return { failure: { kind: "call", reason: `failed to call webhook: ${reply.error}` } };
  if (reply.status < 200 || reply.status > 206) return { failure: { kind: "call", reason: `failed to call webhook: ${httpErrorMessage(reply)}` } };
  let body: unknown;
  try {
    body = JSON.parse(reply.body);
  } catch (e) {
    return { failure: { kind: "call", reason: `failed to call webhook: couldn't get version/kind; json parse error: ${(e as Error).message}` } };
  }
  const parsed = ReviewSchema.safeParse(body);
  if (!parsed.success) return { failure: { kind: "call", reason: `failed to call webhook: ${z.prettifyError(parsed.error).replaceAll("\n", " ")}` } };
  const problem = verifyResponse(parsed.data, uid, version, hook.mutating);
  if (problem !== undefined) return { failure: { kind: "call", reason: `received invalid webhook response: ${problem}` } };
  const response = parsed.data.response!;
  for (const [k, v] of Object.entries(response.auditAnnotations ?? {})) auditAnnotations[`${hook.def.name}/${k}`] = v;
  for (const w of response.warnings ?? []) warnings.add(w);
  if (!response.allowed) return { failure: { kind: "rejected", status: rejection(hook.def.name, response.status) } };
  const patchType = version === "v1beta1" && response.patch ? "JSONPatch" : response.patchType;
  return { answer: { allowed: true, status: response.status, patch: response.patch, patchType } };
}

async function callValidating(
  hook: Hook,
  invocation: Invocation,
  attrs: AdmissionAttributes,
  object: KubeObject | undefined,
  env: AdmissionEnv,
  warnings: Set<string>,
  auditAnnotations: Record<string, string>,
): Promise<Failure | undefined> {
  const r = await exchange(hook, invocation, attrs, object, env, warnings, auditAnnotations);
  return "failure" in r ? r.failure : undefined;
}

async function callMutating(
  hook: Hook,
  invocation: Invocation,
  attrs: AdmissionAttributes,
  object: KubeObject | undefined,
  env: AdmissionEnv,
  warnings: Set<string>,
  auditAnnotations: Record<string, string>,
): Promise<{ changed: boolean; object: KubeObject | undefined; failure?: Failure }> {
  const r = await exchange(hook, invocation, attrs, object, env, warnings, auditAnnotations);
  if ("failure" in r) return { changed: false, object, failure: r.failure };
  const { patch, patchType } = r.answer;
  if (!patch) return { changed: false, object };
  let ops: unknown;
  try {
    ops = JSON.parse(Buffer.from(patch, "base64").toString("utf8"));
  } catch (e) {
    return { changed: false, object, failure: { kind: "call", reason: `received undecodable patch in webhook response: ${(e as Error).message}` } };
  }
  if (!Array.isArray(ops)) {
    return { changed: false, object, failure: { kind: "call", reason: "received undecodable patch in webhook response: json: cannot unmarshal object into Go value of type jsonpatch.Patch" } };
  }
  if (ops.length === 0) return { changed: false, object };
  if (object === undefined) {
    return { changed: false, object, failure: { kind: "internal", message: `admission webhook ${JSON.stringify(hook.def.name)} attempted to modify the object, which is not supported for this operation` } };
  }
  if (patchType !== "JSONPatch") return { changed: false, object, failure: { kind: "call", reason: `unsupported patch type ${JSON.stringify(patchType)}` } };
  const before = versioned(object, invocation.kind)!;
  const applied = applyJsonPatch(before, ops);
  if ("error" in applied) return { changed: false, object, failure: { kind: "internal", message: applied.error } };
  return { changed: !isDeepStrictEqual(before, applied.doc), object: versioned(applied.doc, attrs.kind) };
}

/** RFC 6902 through fast-json-patch, failures worded like evanphx/json-patch (what kube-apiserver uses). */
function applyJsonPatch(doc: KubeObject, ops: unknown[]): { doc: KubeObject } | { error: string } {
  try {
    return { doc: fastJsonPatch.applyPatch(structuredClone(doc), ops as fastJsonPatch.Operation[], true, true).newDocument };
  } catch (e) {
    const op = (e as { operation?: { op?: string; path?: string } }).operation ?? {};
    const name = (e as { name?: string }).name;
    if (op.op === "test" && name === "TEST_OPERATION_FAILED") return { error: `testing value ${op.path} failed: test failed` };
    if (op.op === "replace" && name === "OPERATION_PATH_UNRESOLVABLE") return { error: `replace operation does not apply: doc is missing key: ${op.path}: missing value` };
    if (op.op === "remove" && name === "OPERATION_PATH_UNRESOLVABLE") {
      return { error: `error in remove for path: '${op.path}': Unable to remove nonexistent key: ${String(op.path).split("/").pop()}: missing value` };
    }
    if (op.op !== undefined && op.path !== undefined) return { error: `${op.op} operation does not apply: doc is missing path: ${JSON.stringify(op.path)}: missing value` };
    return { error: (e as Error).message.split("\n")[0]! };
  }
}

/** The object as sent under `matchPolicy: Equivalent`: a `conversion: None` CRD only differs in apiVersion. */
function versioned(obj: KubeObject | undefined, kind: GVK): KubeObject | undefined {
  if (obj === undefined) return undefined;
  const apiVersion = kind.group === "" ? kind.version : `${kind.group}/${kind.version}`;
  if (obj["apiVersion"] === undefined || obj["apiVersion"] === apiVersion) return obj;
  return { ...obj, apiVersion };
}

/** `CreateV1AdmissionReview`: fields in the order and with the omissions of `admission/v1` `AdmissionRequest`. */
function reviewRequest(uid: string, attrs: AdmissionAttributes, invocation: Invocation, object: KubeObject | undefined): Record<string, unknown> {
  const r: Record<string, unknown> = { uid, kind: gvk(invocation.kind), resource: gvr(invocation.resource) };
  if (attrs.subResource) r["subResource"] = attrs.subResource;
  r["requestKind"] = gvk(attrs.kind);
  r["requestResource"] = gvr(attrs.resource);
  if (attrs.subResource) r["requestSubResource"] = attrs.subResource;
  if (attrs.name) r["name"] = attrs.name;
  if (attrs.namespace) r["namespace"] = attrs.namespace;
  r["operation"] = attrs.operation;
  const user: Record<string, unknown> = {};
  if (attrs.userInfo.username) user["username"] = attrs.userInfo.username;
  if (attrs.userInfo.uid) user["uid"] = attrs.userInfo.uid;
  if (attrs.userInfo.groups.length > 0) user["groups"] = attrs.userInfo.groups;
  r["userInfo"] = user;
  r["object"] = versioned(attrs.operation === "DELETE" ? undefined : object, invocation.kind) ?? null;
  r["oldObject"] = versioned(attrs.oldObject, invocation.kind) ?? null;
  r["dryRun"] = attrs.dryRun;
  r["options"] = options(attrs);
  return r;
}

function gvk(k: GVK): GVK {
  return { group: k.group, version: k.version, kind: k.kind };
}

function gvr(r: GVR): GVR {
  return { group: r.group, version: r.version, resource: r.resource };
}

/** `CreateOptions`/`UpdateOptions`/`DeleteOptions` with their TypeMeta first, as the apiserver serialises them. */
function options(attrs: AdmissionAttributes): Record<string, unknown> {
  const kind = { CREATE: "CreateOptions", UPDATE: "UpdateOptions", DELETE: "DeleteOptions" }[attrs.operation];
  const { kind: k, apiVersion: v, ...rest } = attrs.options ?? {};
  return { kind: typeof k === "string" ? k : kind, apiVersion: typeof v === "string" ? v : "meta.k8s.io/v1", ...rest };
}

const ReviewSchema = z.object({
  apiVersion: z.string().nullish(),
  kind: z.string().nullish(),
  response: z
    .object({
      uid: z.string().nullish(),
      allowed: z.boolean().nullish(),
      status: z.record(z.string(), z.unknown()).nullish(),
      patch: z.string().nullish(),
      patchType: z.string().nullish(),
      warnings: z.array(z.string()).nullish(),
      auditAnnotations: z.record(z.string(), z.string()).nullish(),
    })
    .nullish(),
});

/** `VerifyAdmissionResponse`: v1 checks uid, GVK and patch/patchType pairing; v1beta1 only that a response exists. */
function verifyResponse(review: z.infer<typeof ReviewSchema>, uid: string, version: string, mutating: boolean): string | undefined {
  const r = review.response;
  if (r == null) return "webhook response was absent";
  if (version === "v1beta1") return undefined;
  if ((r.uid ?? "") !== uid) return `expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(r.uid ?? "")}`;
  const apiVersion = review.apiVersion ?? "";
  const slash = apiVersion.indexOf("/");
  const got = `${slash === -1 ? "" : apiVersion.slice(0, slash)}/${apiVersion.slice(slash + 1)}, Kind=${review.kind ?? ""}`;
  if (got !== "admission.k8s.io/v1, Kind=AdmissionReview") return `expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${got}`;
  const hasPatch = typeof r.patch === "string" && r.patch.length > 0;
  if (mutating) {
    if (hasPatch && r.patchType == null) return "webhook returned response.patch but not response.patchType";
    if (!hasPatch && r.patchType != null) return "webhook returned response.patchType but not response.patch";
    if (r.patchType === "") return 'webhook returned invalid response.patchType of ""';
  } else {
    if (hasPatch) return "validating webhook may not return response.patch";
    if (r.patchType != null) return "validating webhook may not return response.patchType";
  }
  return undefined;
}

/** An HTTP answer, a transport error (`Post "<url>": …`), or a client that could not be built (bad caBundle). */
type Reply = { status: number; contentType: string; body: string } | { error: string } | { clientError: string };

/**
 * POSTs the review over HTTPS (HTTP/1.1, a new connection per call) with kube-apiserver's headers and
 * `?timeout=<N>s`, trusting only `caBundle` when one is set, and gives up after `timeoutSeconds`.
 */
function post(def: WebhookDef, body: string, env: AdmissionEnv): Promise<Reply> {
  const seconds = def.timeoutSeconds ?? 10;
  const cc = def.clientConfig;
  let target: { host: string; port: number; path: string; servername?: string; hostHeader?: string; shown: string };
  if (cc.url != null) {
    const u = new URL(cc.url);
    const host = u.hostname.replace(/^\[|\]$/g, "");
    target = { host, port: Number(u.port || 443), path: `${u.pathname || "/"}?timeout=${seconds}s`, shown: `${cc.url}?timeout=${seconds}s` };
    if (isIP(host) === 0) target.servername = host;
  } else if (cc.service != null) {
    const ref: ServiceRef = { namespace: cc.service.namespace, name: cc.service.name, port: cc.service.port ?? 443, ...(cc.service.path == null ? {} : { path: cc.service.path }) };
    const dnsName = `${ref.name}.${ref.namespace}.svc`;
    const path = `${ref.path ?? "/"}?timeout=${seconds}s`;
    const shown = `https://${dnsName}:${ref.port}${path}`;
    const base = env.resolveService?.(ref);
    if (base === undefined) return Promise.resolve({ error: `Post ${JSON.stringify(shown)}: dial tcp: lookup ${dnsName}: no such host` });
    const b = new URL(base);
    target = { host: b.hostname.replace(/^\[|\]$/g, ""), port: Number(b.port || 443), path: `${b.pathname.replace(/\/$/, "")}${path}`, servername: dnsName, hostHeader: `${dnsName}:${ref.port}`, shown };
  } else {
    return Promise.resolve({ clientError: "webhook clientConfig has neither url nor service" });
  }
  const ca = cc.caBundle ? Buffer.from(cc.caBundle, "base64").toString("utf8") : undefined;
  // Checked here because the runtimes disagree on a bad `ca` (Bun throws, Node and Deno ignore it).
  if (ca !== undefined && !ca.includes("-----BEGIN CERTIFICATE-----")) return Promise.resolve({ clientError: "unable to load root certificates: unable to parse bytes as PEM block" });

  return new Promise((resolve) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (r: Reply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const failed = (e: Error): void => finish({ error: `Post ${JSON.stringify(target.shown)}: ${transportMessage(e, target)}` });
    let req: ReturnType<typeof httpsRequest>;
    try {
      req = httpsRequest(
        {
          host: target.host,
          port: target.port,
          path: target.path,
          method: "POST",
          agent: false,
          ...(ca === undefined ? {} : { ca }),
          ...(target.servername === undefined ? {} : { servername: target.servername }),
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json, */*",
            "User-Agent": "kube-apiserver-admission",
            "Content-Length": String(Buffer.byteLength(body)),
            ...(target.hostHeader === undefined ? {} : { Host: target.hostHeader }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => finish({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", failed);
        },
      );
    } catch (e) {
      failed(e as Error);
      return;
    }
    timer = setTimeout(() => {
      finish({ error: `Post ${JSON.stringify(target.shown)}: context deadline exceeded` });
      req.destroy();
    }, seconds * 1000);
    req.on("error", failed);
    req.end(body);
  });
}

const UNKNOWN_AUTHORITY = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
]);

/** Go's wording for the transport failures tests provoke; anything else keeps the runtime's message. */
function transportMessage(e: Error, target: { host: string; port: number; servername?: string }): string {
  const err = e as Error & { code?: string; cert?: { subjectaltname?: string } };
  const code = err.code ?? "";
  if (code === "ECONNREFUSED" || /ECONNREFUSED|connection refused/i.test(err.message)) return `dial tcp ${target.host}:${target.port}: connect: connection refused`;
  if (UNKNOWN_AUTHORITY.has(code) || /unknown ?issuer|self[- ]signed|unable to (get|verify)|UnknownIssuer|certificate signed by unknown/i.test(`${code} ${err.message}`)) {
    return "tls: failed to verify certificate: x509: certificate signed by unknown authority";
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    const names = (err.cert?.subjectaltname ?? "")
      .split(", ")
      .filter((n) => n.startsWith("DNS:"))
      .map((n) => n.slice(4));
    return `tls: failed to verify certificate: x509: certificate is valid for ${names.join(", ")}, not ${target.servername ?? target.host}`;
  }
  if (code === "CERT_HAS_EXPIRED") return "tls: failed to verify certificate: x509: certificate has expired or is not yet valid";
  if (code === "ECONNRESET" || /socket hang up/i.test(err.message)) return "EOF";
  return err.message;
}

/** client-go's error for a non-2xx answer: the Status it carried, else `NewGenericServerResponse`'s text. */
function httpErrorMessage(reply: { status: number; contentType: string; body: string }): string {
  try {
    const s = JSON.parse(reply.body) as Record<string, unknown>;
    if (s["kind"] === "Status" && typeof s["message"] === "string" && s["message"] !== "") return s["message"];
  } catch {
    // not a Status: fall through to the generic text
  }
  const text = reply.contentType.startsWith("text/") ? reply.body.trim().slice(0, 1024) : "unknown";
  const messages: Record<number, string> = {
    400: "the server rejected our request for an unknown reason",
    401: "the server has asked for the client to provide credentials",
    403: text,
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    409: "the server reported a conflict",
    415: text,
    422: "the server rejected our request due to an error in our request",
    429: "the server has received too many requests and has asked us to try again later",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be processing the request",
  };
  return (
    messages[reply.status] ??
    (reply.status >= 500
      ? `an error on the server (${JSON.stringify(text)}) has prevented the request from succeeding`
      : `the server responded with the status code ${reply.status} but did not return more information`)
  );
}

// --- statuses -------------------------------------------------------------------------------------------------

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): StatusBody {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details === undefined ? {} : { details }), code };
}

/** `apierrors.NewInternalError`. */
function internalError(message: string): StatusBody {
  return status(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] });
}

/** `apierrors.NewForbidden` for a failed match condition under `failurePolicy: Fail`. */
function forbidden(attrs: AdmissionAttributes, why: string): StatusBody {
  const { group, resource } = attrs.resource;
  const qualified = group === "" ? resource : `${resource}.${group}`;
  const message = attrs.name ? `${qualified} ${JSON.stringify(attrs.name)} is forbidden: ${why}` : `${qualified} is forbidden: ${why}`;
  return status(403, "Forbidden", message, { name: attrs.name, group, kind: resource });
}

/**
 * `webhookerrors.ToStatusErr`: the webhook's Status with the code forced to ≥ 400 (400 when absent), `Failure`,
 * and the message prefixed `admission webhook "<name>" denied the request: ` (reason, else "without explanation").
 */
function rejection(name: string, result: Record<string, unknown> | null | undefined): StatusBody {
  const r = result ?? {};
  const code = typeof r["code"] === "number" && r["code"] >= 400 ? r["code"] : 400;
  const reason = typeof r["reason"] === "string" ? r["reason"] : "";
  const given = typeof r["message"] === "string" ? r["message"] : "";
  const deniedBy = `admission webhook ${JSON.stringify(name)} denied the request`;
  const message = given !== "" ? `${deniedBy}: ${given}` : reason !== "" ? `${deniedBy}: ${reason}` : `${deniedBy} without explanation`;
  const details = typeof r["details"] === "object" && r["details"] !== null ? (r["details"] as Record<string, unknown>) : undefined;
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, ...(reason === "" ? {} : { reason }), ...(details === undefined ? {} : { details }), code };
}
