/**
 * `metav1.Status` builders with kube-apiserver's messages (apimachinery `pkg/api/errors`, `util/validation/field`),
 * and the error class the emulator throws to answer with one.
 */
import type { StatusBody, StatusCause, StatusDetails } from "./admission-types.ts";

/** Group + plural resource, e.g. `{ group: "kustomize.toolkit.fluxcd.io", resource: "kustomizations" }`. */
export type GroupResource = { group: string; resource: string };
/** Group + Kind, e.g. `{ group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization" }`. */
export type GroupKind = { group: string; kind: string };

/** Thrown anywhere in the emulator to answer with `status` (and optional extra headers). */
export class KubeStatusError extends Error {
  override name = "KubeStatusError";
  readonly status: StatusBody;
  readonly headers: Record<string, string | string[]>;
  constructor(status: StatusBody, headers: Record<string, string | string[]> = {}) {
    super(status.message ?? status.reason ?? String(status.code));
    this.status = status;
    this.headers = headers;
  }
}

/** The value of one `Warning` response header (RFC 7234 form kube-apiserver uses). */
export function warningHeader(text: string): string {
  return `299 - "${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** A failure Status; `details` omitted when undefined. */
export function failure(code: number, reason: string, message: string, details?: StatusDetails): StatusBody {
  const body: Omit<StatusBody, "code"> = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason };
  if (details !== undefined) body.details = details;
  return { ...body, code };
}

/** `details` naming an object; empty fields are left out like Go's `omitempty`. */
function detailsOf(name: string, group: string, kind: string, extra: StatusDetails = {}): StatusDetails {
  const d: StatusDetails = {};
  if (name !== "") d.name = name;
  if (group !== "") d.group = group;
  if (kind !== "") d.kind = kind;
  return { ...d, ...extra };
}

/** `kustomizations.kustomize.toolkit.fluxcd.io`, or `namespaces` for the core group. */
export function qualifiedResource(gr: GroupResource): string {
  return gr.group === "" ? gr.resource : `${gr.resource}.${gr.group}`;
}

/** `Kustomization.kustomize.toolkit.fluxcd.io`, or `Namespace` for the core group. */
export function qualifiedKind(gk: GroupKind): string {
  return gk.group === "" ? gk.kind : `${gk.kind}.${gk.group}`;
}

/** Go's `%q` for the strings the emulator quotes (JSON escaping matches it for printable text). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** 404 NotFound: `kustomizations.kustomize.toolkit.fluxcd.io "apps" not found`. */
export function notFound(gr: GroupResource, name: string): StatusBody {
  return failure(404, "NotFound", `${qualifiedResource(gr)} ${goQuote(name)} not found`, detailsOf(name, gr.group, gr.resource));
}

/** 404 for a path nothing serves. */
export function pathNotFound(): StatusBody {
  return failure(404, "NotFound", "the server could not find the requested resource", {});
}

/** 409 AlreadyExists. */
export function alreadyExists(gr: GroupResource, name: string): StatusBody {
  return failure(409, "AlreadyExists", `${qualifiedResource(gr)} ${goQuote(name)} already exists`, detailsOf(name, gr.group, gr.resource));
}

/** 409 Conflict: `Operation cannot be fulfilled on <resource> "<name>": <why>`. */
export function conflict(gr: GroupResource, name: string, why: string): StatusBody {
  return failure(409, "Conflict", `Operation cannot be fulfilled on ${qualifiedResource(gr)} ${goQuote(name)}: ${why}`, detailsOf(name, gr.group, gr.resource));
}

/** The `why` of a stale resourceVersion on update. */
export const OBJECT_MODIFIED = "the object has been modified; please apply your changes to the latest version and try again";

/**
 * 409 from server-side apply (details carry only the causes, as `errors.NewApplyConflict`); `description` is the
 * manager as kube-apiserver prints it (`"kubectl"`, `"flux" using kustomize.toolkit.fluxcd.io/v1`).
 */
export function applyConflict(conflicts: Array<{ description: string; field: string }>, message: string): StatusBody {
  const causes: StatusCause[] = conflicts.map((c) => ({ reason: "FieldManagerConflict", message: `conflict with ${c.description}`, field: c.field }));
  return failure(409, "Conflict", message, { causes });
}

/** 400 BadRequest. */
export function badRequest(message: string): StatusBody {
  return failure(400, "BadRequest", message);
}

/** 410 Expired (too old resourceVersion, expired continue token). */
export function expired(message: string): StatusBody {
  return failure(410, "Expired", message);
}

/** 415 UnsupportedMediaType. */
export function unsupportedMediaType(accepted: string[]): StatusBody {
  return failure(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`);
}

/** 405 MethodNotAllowed: `<verb> is not supported on resources of kind "<resource>"`. */
export function methodNotSupported(gr: GroupResource, action: string): StatusBody {
  return failure(405, "MethodNotAllowed", `${action} is not supported on resources of kind ${goQuote(qualifiedResource(gr))}`, detailsOf("", gr.group, gr.resource));
}

/** 413 RequestEntityTooLarge. */
export function tooLarge(message: string): StatusBody {
  return failure(413, "RequestEntityTooLarge", `Request entity too large: ${message}`);
}

/** 500 InternalError. */
export function internalError(message: string): StatusBody {
  return failure(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] });
}

/** 422 from a failed JSON Patch op: kube-apiserver drops the library's message (`NewGenericServerResponse`). */
export function jsonPatchFailed(): StatusBody {
  return failure(422, "Invalid", "the server rejected our request due to an error in our request", {});
}

// --- field errors (k8s.io/apimachinery/pkg/util/validation/field) ---

/** The `field.ErrorType`s the emulator produces; the string is the cause `reason`. */
export type FieldErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueTypeInvalid"
  | "FieldValueNotSupported"
  | "FieldValueForbidden"
  | "FieldValueTooLong"
  | "FieldValueTooMany"
  | "FieldValueDuplicate";

/** One `field.Error`. `badValue` is printed like Go prints it (strings quoted, numbers and booleans bare). */
export type FieldError = {
  type: FieldErrorType;
  field: string;
  badValue?: unknown;
  /** The bad value exactly as Go prints it when that differs from the JSON form (`0x0` for a uint64 zero, `[]string{"x"}`). */
  printed?: string;
  detail?: string;
  supported?: string[];
  limit?: number;
};

const TYPE_TEXT: Record<FieldErrorType, string> = {
  FieldValueRequired: "Required value",
  FieldValueInvalid: "Invalid value",
  FieldValueTypeInvalid: "Invalid value",
  FieldValueNotSupported: "Unsupported value",
  FieldValueForbidden: "Forbidden",
  FieldValueTooLong: "Too long",
  FieldValueTooMany: "Too many",
  FieldValueDuplicate: "Duplicate value",
};

function printValue(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return goQuote(v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return JSON.stringify(v);
}

/** `field.Error.ErrorBody()`: the message without the field path. */
export function fieldErrorBody(e: FieldError): string {
  let s: string;
  const value = e.printed ?? printValue(e.badValue);
  switch (e.type) {
    case "FieldValueRequired":
    case "FieldValueForbidden":
      s = TYPE_TEXT[e.type];
      break;
    case "FieldValueTooLong":
      s = `${TYPE_TEXT[e.type]}: may not be more than ${e.limit ?? 0} bytes`;
      break;
    case "FieldValueTooMany":
      s = `${TYPE_TEXT[e.type]}: ${value}: must have at most ${e.limit ?? 0} items`;
      break;
    case "FieldValueNotSupported":
      s = `${TYPE_TEXT[e.type]}: ${value}`;
      if (e.supported !== undefined && e.supported.length > 0) s += `: supported values: ${e.supported.map(goQuote).join(", ")}`;
      break;
    default:
      s = `${TYPE_TEXT[e.type]}: ${value}`;
  }
  if (e.detail !== undefined && e.detail !== "") s += `: ${e.detail}`;
  return s;
}

/** `field.Error.Error()`: `spec.interval: Required value`. */
export function fieldErrorString(e: FieldError): string {
  return e.field === "" ? fieldErrorBody(e) : `${e.field}: ${fieldErrorBody(e)}`;
}

/** `field.ErrorList.ToAggregate().Error()`: one message, or `[a, b]` for several (duplicates dropped). */
export function aggregate(errors: FieldError[]): string {
  const msgs = [...new Set(errors.map(fieldErrorString))];
  return msgs.length === 1 ? msgs[0]! : `[${msgs.join(", ")}]`;
}

/** 422 Invalid: `Kustomization.kustomize.toolkit.fluxcd.io "apps" is invalid: spec.interval: Required value`. */
export function invalid(gk: GroupKind, name: string, errors: FieldError[]): StatusBody {
  const causes: StatusCause[] = errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field }));
  const message = errors.length === 0 ? `${qualifiedKind(gk)} ${goQuote(name)} is invalid` : `${qualifiedKind(gk)} ${goQuote(name)} is invalid: ${aggregate(errors)}`;
  return failure(422, "Invalid", message, detailsOf(name, gk.group, gk.kind, { causes }));
}

/** 429 as a Status body; the caller also sends `Retry-After`. */
export function tooManyRequests(retryAfterSeconds: number | undefined): StatusBody {
  const details: StatusDetails = {};
  if (retryAfterSeconds !== undefined && retryAfterSeconds > 0) details.retryAfterSeconds = retryAfterSeconds;
  return failure(429, "TooManyRequests", "Too many requests, please try again later.", details);
}

/** The generic Statuses for injected 5xx answers. */
export function serverError(code: 500 | 503 | 504): StatusBody {
  if (code === 503) return failure(503, "ServiceUnavailable", "the server is currently unable to handle the request");
  if (code === 504) return failure(504, "Timeout", "Timeout: request did not complete within the allotted timeout");
  return failure(500, "InternalError", "Internal error occurred: injected fault", { causes: [{ message: "injected fault" }] });
}

/** The success Status of a delete that removed the object; like kube-apiserver's it has no `code`. */
export function deleteSuccess(gr: GroupResource, name: string, uid: string): StatusBody {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: detailsOf(name, gr.group, gr.resource, { uid }) } as StatusBody;
}
