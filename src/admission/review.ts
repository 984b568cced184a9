/**
 * The AdmissionReview wire format (`admission.k8s.io/v1`, and `v1beta1`, whose shape is the same): parsing a
 * request body at the edge (400 with a reason for anything kube-apiserver would never send), turning it into the
 * `AdmissionInput` the rules judge, and turning a `Decision` into the response kube-apiserver accepts
 * (`../shared/specs/admission.md` §1.3, §1.4, §3).
 */
import { Buffer } from "node:buffer";
import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import { RequestError } from "../errors.ts";
import type { AdmissionInput, Decision, JsonPatchOperation, KubeObject, Phase, Violation } from "./rule.ts";

/** Review versions we answer; the response echoes the request's, as controller-runtime does. */
export const REVIEW_API_VERSIONS = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] as const;
export type ReviewApiVersion = (typeof REVIEW_API_VERSIONS)[number];

/**
 * Deepest nesting accepted in a review body. Real objects stay far below it (kube-apiserver's own JSON limit is
 * 10,000); the cap keeps recursive code in the rules (deep equality of `spec`) clear of stack overflows.
 */
export const MAX_REVIEW_DEPTH = 256;

const gvk = z.object({ group: z.string(), version: z.string(), kind: z.string() });
const gvr = z.object({ group: z.string(), version: z.string(), resource: z.string() });
const stringMap = z.record(z.string(), z.string());

const requestSchema = z.object({
  uid: z.string().min(1, "must not be empty"),
  kind: gvk,
  resource: gvr.optional(),
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
  userInfo: z.object({
    username: z.string().optional(),
    groups: z.array(z.string()).nullish(),
  }),
  // RawExtensions: null when empty. Parsed below once the operation says what they hold (CONNECT sends options).
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().nullish(),
});

const reviewSchema = z.object({
  apiVersion: z.enum(REVIEW_API_VERSIONS, { error: `expected one of ${REVIEW_API_VERSIONS.join(", ")}` }),
  kind: z.literal("AdmissionReview", { error: 'expected "AdmissionReview"' }),
  request: requestSchema,
});

/** What a Kubernetes object must look like for the rules: typed `metadata` maps and an object `spec`. */
export const kubeObjectSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({
    name: z.string().optional(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    labels: stringMap.optional(),
    annotations: stringMap.optional(),
  }),
  // A mapping, checked without copying it: specs can be large (HelmRelease values) and the rules read what they need.
  spec: z.custom<Record<string, unknown>>((v) => typeof v === "object" && v !== null && !Array.isArray(v), { error: "expected a mapping" }).optional(),
});

/** The parts of an AdmissionReview request Fluxgate uses, validated. */
export type AdmissionRequest = {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  /** The request's name; `""` or absent on CREATE with `generateName`. */
  name?: string;
  namespace?: string;
  operation: AdmissionInput["operation"];
  userInfo: { username: string; groups: string[] };
  /** The new object (CREATE, UPDATE); absent for DELETE and CONNECT. */
  object?: KubeObject;
  /** The stored object (UPDATE, DELETE). */
  oldObject?: KubeObject;
  dryRun: boolean;
};

/** A parsed AdmissionReview. */
export type AdmissionReview = { apiVersion: ReviewApiVersion; request: AdmissionRequest };

/** The `response` of an AdmissionReview, as kube-apiserver reads it. */
export type ReviewResponse = {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
  patchType?: "JSONPatch";
  /** Base64 of the JSON array of RFC 6902 operations. */
  patch?: string;
  auditAnnotations?: Record<string, string>;
};

/** The body Fluxgate answers with (HTTP 200). */
export type AdmissionReviewResponse = { apiVersion: ReviewApiVersion; kind: "AdmissionReview"; response: ReviewResponse };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a review body (bytes, or text the runtime decoded): UTF-8 JSON at most `MAX_REVIEW_DEPTH` deep, an
 * AdmissionReview with a request uid, objects shaped like Kubernetes objects. Throws a 400 `RequestError`
 * (`MalformedReview`) saying what is wrong.
 * @example parseReview(await readBody(request, limit)).request.uid
 */
export function parseReview(body: Uint8Array | string): AdmissionReview {
  let text: string;
  try {
    text = typeof body === "string" ? body : utf8.decode(body);
  } catch {
    throw malformed("the body is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // RangeError too: some runtimes' JSON.parse recurses and overflows on absurd nesting.
    throw malformed(text.trim() === "" ? "the body is empty; expected an AdmissionReview" : `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (depthExceeds(value, MAX_REVIEW_DEPTH)) throw malformed(`the body is nested more than ${MAX_REVIEW_DEPTH} levels deep`);
  const parsed = reviewSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) throw malformed(describeIssue(parsed.error.issues));
  const r = parsed.data.request;
  const request: AdmissionRequest = {
    uid: r.uid,
    kind: r.kind,
    operation: r.operation,
    userInfo: { username: r.userInfo.username ?? "", groups: r.userInfo.groups ?? [] },
    dryRun: r.dryRun ?? false,
  };
  if (r.resource !== undefined) request.resource = r.resource;
  if (r.subResource !== undefined && r.subResource !== "") request.subResource = r.subResource;
  if (r.name !== undefined) request.name = r.name;
  if (r.namespace !== undefined) request.namespace = r.namespace;
  if (r.operation !== "CONNECT") {
    const object = kubeObject(r.object, "request.object");
    const oldObject = kubeObject(r.oldObject, "request.oldObject");
    if (object !== undefined) request.object = object;
    if (oldObject !== undefined) request.oldObject = oldObject;
    if (object === undefined && (r.operation === "CREATE" || r.operation === "UPDATE")) throw malformed(`request.object: required for ${r.operation}`);
  }
  return { apiVersion: parsed.data.apiVersion, request };
}

function kubeObject(value: unknown, where: string): KubeObject | undefined {
  if (value === null || value === undefined) return undefined;
  const r = kubeObjectSchema.safeParse(value, { reportInput: true });
  if (!r.success) throw malformed(describeIssue(r.error.issues, where));
  return r.data;
}

const malformed = (message: string) => new RequestError(400, "MalformedReview", `malformed AdmissionReview: ${message}`);

/** The first zod issue as `path: message`, with the number of further issues (parse with `reportInput: true`). */
export function describeIssue(issues: z.core.$ZodIssue[], prefix = ""): string {
  const first = issues[0];
  if (first === undefined) return "invalid";
  const path = [prefix, ...first.path.map((s) => (typeof s === "number" ? `[${s}]` : String(s)))].filter((s) => s !== "").join(".").replace(/\.\[/g, "[");
  const message = first.code === "invalid_type" && first.input === undefined ? `required (${first.expected})` : first.message;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more ${issues.length === 2 ? "problem" : "problems"})` : "";
  return `${path === "" ? "(body)" : path}: ${message}${more}`;
}

/** Whether any value inside `value` sits deeper than `max` levels. Recursion stops at `max`, so it cannot overflow. */
function depthExceeds(value: unknown, max: number, depth = 0): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (depth >= max) return true;
  if (Array.isArray(value)) {
    for (const child of value) if (typeof child === "object" && child !== null && depthExceeds(child, max, depth + 1)) return true;
    return false;
  }
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === "object" && child !== null && depthExceeds(child, max, depth + 1)) return true;
  }
  return false;
}

/**
 * What the rules judge: the request's user, kind, namespace and objects at `now`.
 * @example evaluate(toAdmissionInput(review.request, new Date()), policy, "validate")
 */
export function toAdmissionInput(request: AdmissionRequest, now: Date): AdmissionInput {
  const input: AdmissionInput = {
    operation: request.operation,
    kind: request.kind,
    namespace: request.namespace ?? request.object?.metadata.namespace ?? request.oldObject?.metadata.namespace ?? "",
    user: { username: request.userInfo.username, groups: request.userInfo.groups },
    dryRun: request.dryRun,
    now,
  };
  if (request.object !== undefined) input.object = request.object;
  if (request.oldObject !== undefined) input.oldObject = request.oldObject;
  return input;
}

/** `Kind namespace/name` of the request's object, for messages and logs. */
export function describeObject(request: AdmissionRequest): string {
  const meta = request.object?.metadata ?? request.oldObject?.metadata;
  const name = request.name !== undefined && request.name !== "" ? request.name : (meta?.name ?? (meta?.generateName !== undefined ? `${meta.generateName}<generated>` : "<unnamed>"));
  const ns = request.namespace ?? meta?.namespace;
  return `${request.kind.kind} ${ns === undefined || ns === "" ? "" : `${ns}/`}${name}`;
}

/**
 * The denial message: every enforced violation at once, so one `kubectl apply` shows all there is to fix. kubectl
 * prints it after `admission webhook "<name>" denied the request: `.
 * @example "Kustomization dev-team/apps: spec.sourceRef.namespace: … [cross-namespace-refs]; spec.serviceAccountName: … [service-account]"
 */
export function denialMessage(request: AdmissionRequest, denials: Violation[]): string {
  const shown: string[] = [];
  let length = 0;
  for (const v of denials) {
    const text = `${v.message} [${v.rule}]`;
    if (shown.length > 0 && (shown.length >= DENIALS_SHOWN || length + text.length > DENIAL_MESSAGE_CHARS)) break;
    shown.push(text);
    length += text.length + 2;
  }
  const more = denials.length - shown.length;
  return `${describeObject(request)}: ${shown.join("; ")}${more > 0 ? `; and ${more} more ${more === 1 ? "violation" : "violations"}` : ""}`;
}

/** Beyond these, a denial says how many more there are: the message is for a human reading kubectl's output. */
export const DENIALS_SHOWN = 20;
export const DENIAL_MESSAGE_CHARS = 8192;

/**
 * kube-apiserver truncates each warning to 256 characters once their total passes 4,096, and then drops the rest
 * (k8s.io/apiserver `filters/warning.go`); we stay inside both limits ourselves so the cut is ours and visible.
 */
export const WARNING_MAX_CHARS = 256;
export const WARNINGS_MAX_TOTAL_CHARS = 4096;

/** Audit-mode violations as `Warning` header texts, each and all within kube-apiserver's limits. */
export function warningTexts(request: AdmissionRequest, warnings: Violation[]): string[] {
  const what = describeObject(request);
  const out: string[] = [];
  let total = 0;
  for (const [i, v] of warnings.entries()) {
    const t = truncate(`${what}: ${v.message} [${v.rule}, audit]`, WARNING_MAX_CHARS);
    // Leave room for the summary line whenever more would follow.
    const reserve = i < warnings.length - 1 ? 80 : 0;
    if (total + t.length + reserve > WARNINGS_MAX_TOTAL_CHARS) {
      out.push(`${what}: ${warnings.length - i} more audit findings not shown (see the audit annotations)`);
      break;
    }
    out.push(t);
    total += t.length;
  }
  return out;
}

function truncate(text: string, max: number): string {
  // Warnings travel as HTTP header values: no control characters.
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, " ");
  return clean.length <= max ? clean : `${clean.slice(0, max - 3)}...`;
}

/** `auditAnnotations` for a decision: Fluxgate's summary keys and the engine's own (`decision` is always ours). */
export function auditAnnotationsFor(decision: Decision, phase: Phase, patched: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  if (decision.exempt !== undefined) {
    out["decision"] = "exempt";
    out["exemption"] = `${decision.exempt.kind}: ${decision.exempt.reason}`;
  } else if (phase === "mutate") out["decision"] = patched ? "patched" : "unchanged";
  else out["decision"] = decision.denials.length > 0 ? "denied" : decision.warnings.length > 0 ? "warned" : "allowed";
  if (decision.tenant !== undefined) out["tenant"] = decision.tenant;
  const rules = (vs: Violation[]) => [...new Set(vs.map((v) => v.rule))].join(",");
  if (phase === "validate" && decision.denials.length > 0) out["denied-rules"] = rules(decision.denials);
  if (phase === "validate" && decision.warnings.length > 0) out["audit-rules"] = rules(decision.warnings);
  // The engine's keys add detail; whether a patch went out is only known here.
  return { ...out, ...decision.auditAnnotations, decision: out["decision"] as string };
}

/**
 * The AdmissionReview to answer with. `validate`: denied (403, every denial in the message) when there are
 * denials, with audit violations as warnings. `mutate`: always allowed, with the patch only when it changes the
 * object, so a reinvocation on our own output gets no patch.
 */
export function reviewResponse(review: AdmissionReview, decision: Decision, phase: Phase): AdmissionReviewResponse {
  const { request } = review;
  const response: ReviewResponse = { uid: request.uid, allowed: true };
  let patched = false;
  if (phase === "validate") {
    if (decision.denials.length > 0) {
      response.allowed = false;
      response.status = { code: 403, reason: "Forbidden", message: denialMessage(request, decision.denials) };
    }
    if (decision.warnings.length > 0) response.warnings = warningTexts(request, decision.warnings);
  } else if (request.object !== undefined && request.operation !== "DELETE" && decision.patch.length > 0) {
    // kube-apiserver rejects a patch on DELETE, and one that fails to apply, whatever the failurePolicy (§1.4).
    const ops = effectivePatch(request.object, decision.patch);
    if (ops.length > 0) {
      patched = true;
      response.patchType = "JSONPatch";
      response.patch = Buffer.from(JSON.stringify(ops)).toString("base64");
    }
  }
  const annotations = auditAnnotationsFor(decision, phase, patched);
  if (Object.keys(annotations).length > 0) response.auditAnnotations = annotations;
  return { apiVersion: review.apiVersion, kind: "AdmissionReview", response };
}

/** An allowed answer with nothing else (requests Fluxgate does not judge: DELETE, CONNECT, subresources). */
export function allowedResponse(review: AdmissionReview, auditAnnotations?: Record<string, string>): AdmissionReviewResponse {
  const response: ReviewResponse = { uid: review.request.uid, allowed: true };
  if (auditAnnotations !== undefined) response.auditAnnotations = auditAnnotations;
  return { apiVersion: review.apiVersion, kind: "AdmissionReview", response };
}

/** Escapes one JSON Pointer segment (RFC 6901): `~` first, then `/`. @example pointerSegment("fluxcd.io/x") // "fluxcd.io~1x" */
export function pointerSegment(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** Splits a JSON Pointer into unescaped segments; undefined when it is not one. */
function parsePointer(path: string): string[] | undefined {
  if (!path.startsWith("/")) return undefined;
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => typeof v === "object" && v !== null;

/**
 * The operations of `ops` that change `object`, rewritten so each applies to it: an `add` under a missing map
 * (`/metadata/annotations` absent) becomes an `add` of that map, a `replace` of a missing member an `add`; an
 * `add` or `replace` that sets the value already there, a `remove` of something absent and every `test` are
 * dropped, as are operations that cannot apply (kube-apiserver would fail the request with a 500). Applying the
 * result to `object` gives what applying `ops` intends, and applying it to its own output changes nothing.
 */
export function effectivePatch(object: KubeObject, ops: JsonPatchOperation[]): JsonPatchOperation[] {
  // Copy-on-write along each path: the received object stays untouched without a deep copy of it (specs can be large).
  const doc: Record<string, unknown> = { ...object };
  const copied = new WeakSet<object>([doc]);
  const own = (parent: Container, key: string | number, child: Container): Container => {
    if (copied.has(child)) return child;
    const copy: Container = Array.isArray(child) ? [...child] : { ...child };
    copied.add(copy);
    if (Array.isArray(parent)) parent[Number(key)] = copy;
    else parent[String(key)] = copy;
    return copy;
  };
  const out: JsonPatchOperation[] = [];
  for (const op of ops) {
    if (op.op === "test") continue;
    const segments = parsePointer(op.path);
    if (segments === undefined || segments.length === 0) continue; // never replace the whole object
    // Walk to the parent, creating missing maps for add/replace.
    let parent: Container = doc;
    let created: { at: number; value: Record<string, unknown> } | undefined;
    let ok = true;
    for (let i = 0; i < segments.length - 1; i++) {
      const seg = segments[i] as string;
      const next: unknown = Array.isArray(parent) ? parent[Number(seg)] : parent[seg];
      if (isContainer(next) && (!Array.isArray(parent) || /^\d+$/.test(seg))) {
        parent = own(parent, seg, next);
        continue;
      }
      // A missing map is created (annotations, labels); a missing list is not guessed at.
      const child = segments[i + 1] as string;
      if (next === undefined && !Array.isArray(parent) && op.op !== "remove" && child !== "-" && !/^\d+$/.test(child)) {
        const fresh: Record<string, unknown> = {};
        copied.add(fresh);
        parent[seg] = fresh;
        created ??= { at: i, value: fresh };
        parent = fresh;
        continue;
      }
      ok = false;
      break;
    }
    if (!ok) continue;
    const last = segments[segments.length - 1] as string;
    if (op.op === "remove") {
      if (Array.isArray(parent)) {
        const i = Number(last);
        if (!/^\d+$/.test(last) || i >= parent.length) continue;
        parent.splice(i, 1);
      } else {
        if (!Object.hasOwn(parent, last)) continue;
        delete parent[last];
      }
      out.push({ op: "remove", path: op.path });
      continue;
    }
    if (op.value === undefined) continue; // add and replace need a value (RFC 6902 §4.1)
    const value: unknown = structuredClone(op.value);
    if (Array.isArray(parent)) {
      if (last === "-" && op.op === "add") {
        parent.push(value);
      } else {
        const i = Number(last);
        if (!/^\d+$/.test(last) || i > parent.length || (op.op === "replace" && i === parent.length)) continue;
        if (op.op === "replace") {
          if (isDeepStrictEqual(parent[i], value)) continue;
          parent[i] = value;
        } else parent.splice(i, 0, value);
      }
      out.push({ op: op.op, path: op.path, value });
      continue;
    }
    const had = Object.hasOwn(parent, last);
    if (had && isDeepStrictEqual(parent[last], value)) continue;
    parent[last] = value;
    if (created !== undefined) {
      // The map did not exist: add it whole, with this member in it (further adds under it go by key).
      const path = `/${segments.slice(0, created.at + 1).map(pointerSegment).join("/")}`;
      out.push({ op: "add", path, value: structuredClone(created.value) });
    } else out.push({ op: had ? op.op : "add", path: op.path, value });
  }
  return out;
}
