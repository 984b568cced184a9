/**
 * The patch that asks Flux to reconcile an object now, as `flux reconcile` sends it: a JSON merge patch of
 * `metadata.annotations["reconcile.fluxcd.io/requestedAt"]` and nothing else (no resourceVersion, so no conflict;
 * annotations do not bump `generation`). The value is an opaque token to Flux; like the `flux` CLI we write the
 * time as Go's RFC3339Nano, here in UTC.
 */
import { annotationsMergePatch } from "./patches.ts";
import type { MergePatch } from "./patches.ts";

export const REQUESTED_AT = "reconcile.fluxcd.io/requestedAt";
/** HelmRelease only: a one-off install/upgrade when it equals `requestedAt`. */
export const FORCE_AT = "reconcile.fluxcd.io/forceAt";
/** HelmRelease only: resets remediation counters when it equals `requestedAt`. */
export const RESET_AT = "reconcile.fluxcd.io/resetAt";

export type ReconcileRequestOptions = {
  /** Also set `forceAt` to the same token (`flux reconcile hr --force`). */
  force?: boolean;
  /** Also set `resetAt` to the same token (`flux reconcile hr --reset`). */
  reset?: boolean;
};

/**
 * Go's `time.RFC3339Nano` layout in UTC: fractional seconds without trailing zeros, none when whole.
 * @example formatRfc3339Nano(new Date("2026-11-25T07:51:11.120Z")) // "2026-11-25T07:51:11.12Z"
 */
export function formatRfc3339Nano(time: Date): string {
  const iso = time.toISOString(); // always YYYY-MM-DDTHH:MM:SS.mmmZ for years 0–9999
  const [whole, fraction = ""] = iso.slice(0, -1).split(".");
  const trimmed = fraction.replace(/0+$/, "");
  return `${whole}${trimmed === "" ? "" : `.${trimmed}`}Z`;
}

/**
 * The merge patch body for a reconcile request at `now`.
 * @example reconcileRequestPatch(new Date("2026-11-25T07:51:11Z"))
 * // { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "2026-11-25T07:51:11Z" } } }
 */
export function reconcileRequestPatch(now: Date, options: ReconcileRequestOptions = {}): MergePatch {
  const token = formatRfc3339Nano(now);
  const annotations: Record<string, string> = { [REQUESTED_AT]: token };
  if (options.force === true) annotations[FORCE_AT] = token;
  if (options.reset === true) annotations[RESET_AT] = token;
  return annotationsMergePatch(annotations);
}
