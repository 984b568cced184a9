/**
 * The types the emulator's write path shares with the admission dispatcher (`admission-dispatch.ts`): what a write
 * looks like to admission (kube-apiserver's `admission.Attributes`), what admission answers, and `metav1.Status`.
 */

/** Any Kubernetes object as JSON (`apiVersion`, `kind`, `metadata`, …). */
export type KubeObject = Record<string, unknown>;

/** One entry of `details.causes` in a Status. */
export type StatusCause = { reason?: string; message?: string; field?: string };

/** `metav1.StatusDetails`. `kind` is the plural resource for NotFound/AlreadyExists/Conflict, the Kind for Invalid. */
export type StatusDetails = {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
};

/** `metav1.Status` as kube-apiserver writes it (keys in its order). */
export type StatusBody = {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, unknown>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
};

/** The authenticated (or impersonated) caller of a request. */
export type UserInfo = { username: string; uid?: string; groups: string[] };

/**
 * One write as admission sees it (kube-apiserver `admission.Attributes`, the source of an AdmissionReview request).
 * CREATE has `object`; UPDATE has `object` and `oldObject`; DELETE has only `oldObject`.
 */
export type AdmissionAttributes = {
  operation: "CREATE" | "UPDATE" | "DELETE";
  /** Group/version/kind of the request (the version the client used). */
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  /** `"status"` for writes to the status subresource. */
  subResource?: string;
  /** Empty on CREATE with `generateName` (the name is generated after mutating admission, as in kube-apiserver). */
  name: string;
  namespace?: string;
  object?: KubeObject;
  oldObject?: KubeObject;
  userInfo: UserInfo;
  dryRun: boolean;
  /** `CreateOptions`, `UpdateOptions`, `PatchOptions` or `DeleteOptions` (meta.k8s.io/v1) of the request. */
  options?: KubeObject;
};

/** Admission's answer: allowed (optionally with a mutated object and warnings) or denied with a Status. */
export type AdmissionDecision =
  | { allowed: true; object?: KubeObject; warnings?: string[] }
  | { allowed: false; status: StatusBody; warnings?: string[] };

/** What the emulator's `validate` step returns: the object as it would be stored, or the 4xx Status. */
export type ValidationOutcome = { ok: true; object: KubeObject; warnings: string[] } | { ok: false; status: StatusBody };

/**
 * Handed to the admission handler on every call. kube-apiserver runs mutating admission, then the server's own
 * defaulting, metadata fill-in (name from generateName, uid, creationTimestamp, generation) and schema validation,
 * then validating admission (admission.md §5.2). A handler that runs both phases calls `validate(mutated)` between
 * them and gives validating webhooks the object it returns; a handler that never calls it gets the same step run
 * on its returned object afterwards.
 */
export type AdmissionContext = {
  /** For CREATE/UPDATE only; DELETE has nothing to validate and answers `{ ok: true, object: oldObject }`. */
  validate(object: KubeObject): ValidationOutcome;
};

/** The function plugged in with `emulator.setAdmission`. */
export type AdmissionHandler = (attrs: AdmissionAttributes, ctx: AdmissionContext) => Promise<AdmissionDecision>;
