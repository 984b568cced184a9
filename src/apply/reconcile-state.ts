/**
 * Whether a trigger leads to a patch: a pure decision over the trigger, the object's reconcile state, its
 * deployment window and the clock.
 *
 * Flux copies `reconcile.fluxcd.io/requestedAt` to `status.lastHandledReconcileAt` when a reconcile picks it up
 * (flux-policy.md §5), and that reconcile starts after the request was written. So a request still unhandled will
 * be served by a reconcile that starts later and sees every change pushed until then: patching again meanwhile only
 * adds API writes (the controller's queue collapses them anyway). Next to the token, the worker records which event
 * it asked for (`fluxgate.io/requested-for: <token> <event id>`), so a trigger delivered twice (a lost ack, a worker
 * killed after its patch) is recognised and not patched again.
 */

/** `<requestedAt token> <event id>`: the reconcile request Fluxgate made last, and for which event. */
export const REQUESTED_FOR = "fluxgate.io/requested-for";

/** An object's reconcile requests, as its annotations and status tell. */
export type ReconcileState = {
  /** `metadata.annotations["reconcile.fluxcd.io/requestedAt"]`, whoever wrote it. */
  requestedAt: string | undefined;
  /** `status.lastHandledReconcileAt`. */
  lastHandledAt: string | undefined;
  /** Fluxgate's last request (from `fluxgate.io/requested-for`). */
  ours: { token: string; eventId: string } | undefined;
};

/** The annotation value. @example requestedForValue("2026-11-25T07:51:11.12Z", "gh-1") // "2026-11-25T07:51:11.12Z gh-1" */
export function requestedForValue(token: string, eventId: string): string {
  return `${token} ${eventId}`;
}

/** The annotation read back; undefined when absent or not ours in shape. */
export function parseRequestedFor(value: string | undefined): { token: string; eventId: string } | undefined {
  if (value === undefined) return undefined;
  const space = value.indexOf(" ");
  if (space <= 0 || space === value.length - 1) return undefined;
  return { token: value.slice(0, space), eventId: value.slice(space + 1) };
}

/**
 * Fluxgate's own request when it is the current one and Flux has not handled it yet, with the time it was made
 * (our tokens are RFC 3339). A request someone else made since (`flux reconcile`, a Flux Receiver) is not ours: we
 * cannot tell when it was made, so it holds nothing back.
 */
export function pendingRequest(state: ReconcileState): { eventId: string; at: Date } | undefined {
  const ours = state.ours;
  if (ours === undefined || state.requestedAt !== ours.token || state.lastHandledAt === ours.token) return undefined;
  const at = Date.parse(ours.token);
  return Number.isNaN(at) ? undefined : { eventId: ours.eventId, at: new Date(at) };
}

/** What to do with a trigger. */
export type Decision =
  /** Ack without patching: the object is suspended (Flux would record the request and not apply it), or already requested for this very event. */
  | { action: "skip"; reason: "suspended" | "duplicate" }
  /** Its deployment window is closed until `until`. */
  | { action: "hold"; until: Date }
  /** Our previous request is unhandled: wait for Flux to handle it (or for `deadline`), then decide again. */
  | { action: "wait"; deadline: Date }
  | { action: "patch" };

export type DecisionInput = {
  eventId: string;
  /** The object as the inventory knows it; undefined when it does not (yet). */
  object: { suspended: boolean; reconcile: ReconcileState } | undefined;
  /** When the object's deployment window opens; undefined when open now. */
  holdUntil: Date | undefined;
  now: Date;
  /** How long an unhandled request of ours holds new triggers back before we ask again anyway. */
  pendingTimeoutMs: number;
};

/**
 * Decides a trigger's fate, in this order: suspended → skip; already requested for this event → skip; window
 * closed → hold; our request still unhandled → wait (at most `pendingTimeoutMs` after it was made); else patch.
 * @example decide({ eventId: "e2", object, holdUntil: undefined, now, pendingTimeoutMs: 600_000 }) // { action: "patch" }
 */
export function decide(input: DecisionInput): Decision {
  const { object, now } = input;
  if (object?.suspended === true) return { action: "skip", reason: "suspended" };
  if (object?.reconcile.ours?.eventId === input.eventId) return { action: "skip", reason: "duplicate" };
  if (input.holdUntil !== undefined && input.holdUntil.getTime() > now.getTime()) return { action: "hold", until: input.holdUntil };
  const pending = object === undefined ? undefined : pendingRequest(object.reconcile);
  if (pending !== undefined) {
    const deadline = new Date(pending.at.getTime() + input.pendingTimeoutMs);
    if (deadline.getTime() > now.getTime()) return { action: "wait", deadline };
  }
  return { action: "patch" };
}
