/**
 * The applier: a durable consumer on FLUXGATE_TRIGGERS that asks Flux to reconcile each trigger's object with a
 * merge patch of `reconcile.fluxcd.io/requestedAt` (and `fluxgate.io/requested-for`), acking only once the API
 * server answered. What happens to a trigger is `decide` (reconcile-state.ts):
 *
 * - window closed → `nak` with the delay until it opens (at most `maxHoldMs`, then checked again): the server keeps
 *   the trigger and releases it, across restarts of any worker;
 * - our previous request unhandled → the trigger waits in this process (kept alive, unacked) until the inventory
 *   sees Flux handle it, the object change, or `pendingTimeoutMs` pass; it is then decided again, unless a newer
 *   trigger for the object replaced it meanwhile. A process that dies while waiting leaves the trigger to be
 *   redelivered after the ack wait;
 * - patch → with the inventory's resourceVersion as precondition, so two workers deciding on the same state cannot
 *   both write: the loser gets 409, reads the object again and decides again. API errors other than 404 and 409 are
 *   retried by the kube layer (429 after Retry-After, 5xx with back-off) and then by a `nak` with back-off.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { z } from "zod";
import { isKubeApiError } from "../errors.ts";
import type { Bus, ConsumerSpec, Consumption, Delivery } from "../events/bus.ts";
import { APPLIER_CONSUMER } from "../events/consumers.ts";
import { failureDelayMs } from "../events/dispatcher.ts";
import { trigger as triggerSchema, triggerSubject } from "../events/trigger.ts";
import type { Trigger } from "../events/trigger.ts";
import { findFluxKind } from "../flux/kinds.ts";
import type { FluxKind } from "../flux/kinds.ts";
import type { KubeClient } from "../kube/client.ts";
import { formatRfc3339Nano, REQUESTED_AT } from "../kube/reconcile-request.ts";
import { CoalescingCounter } from "./coalescing.ts";
import type { Inventory } from "./inventory.ts";
import { objectRefKey } from "./inventory-object.ts";
import type { InventoryObject } from "./inventory-object.ts";
import { workerMetrics } from "./metrics.ts";
import { decide, REQUESTED_FOR, requestedForValue } from "./reconcile-state.ts";

/** When the object's deployment window opens; undefined when it is open now. */
export type HoldUntil = (target: { namespace: string; kind: string; name: string; labels: Record<string, string> }, now: Date) => Date | undefined;

/** What became of a trigger, for the status page: one per decision (a held trigger is decided again later). */
export type TriggerOutcome =
  | { result: "requested" | "would-request" | "gone" | "superseded" }
  | { result: "held"; until: string }
  | { result: "waiting"; deadline: string }
  | { result: "skipped"; reason: string }
  | { result: "failed"; retryMs: number };

/** A trigger this process holds: for a closed window (until it opens) or for Flux to handle our previous request. */
export type HeldTrigger = { object: string; reason: "window" | "pending"; until?: string; event: string; change?: string; since: string };

export type Applier = Consumption & {
  /** Triggers held by this process now, by object. */
  held(): HeldTrigger[];
};

export type ApplierOptions = {
  bus: Bus;
  /** Where reconciles are requested; "dry-run" logs the request it would make and acks (`serve --manifests`). */
  kube: KubeClient | "dry-run";
  inventory: Inventory;
  log: Logger;
  registry: Registry;
  /** Deployment windows; default: always open. */
  holdUntil?: HoldUntil;
  now?: () => Date;
  /** Longest single `nak` delay for a closed window; the trigger is checked again after it. Default 15 min. */
  maxHoldMs?: number;
  /** How long an unhandled request of ours holds newer triggers back before we ask again anyway. Default 10 min. */
  pendingTimeoutMs?: number;
  /** Shared with the router of the same process. */
  coalescing?: CoalescingCounter;
  consumer?: ConsumerSpec;
  /** Triggers decided and patched at once; default 16. Waiting triggers do not take a slot. */
  concurrency?: number;
  /** Told what became of each trigger (the status page's deliveries). */
  onOutcome?: (trigger: Trigger, outcome: TriggerOutcome) => void;
};

type Waiter = { delivery: Delivery; trigger: Trigger; kind: FluxKind; timer: ReturnType<typeof setTimeout> | undefined; since: Date; deadline: Date | undefined };

const decoder = new TextDecoder();
/** Past the window's opening, so the redelivery finds it open. */
const OPENING_MARGIN_MS = 50;
/** 409 Conflict answers to our precondition before the trigger is nak'ed instead. */
const CONFLICT_ATTEMPTS = 5;

/**
 * Starts applying; start it once the inventory is synced (decisions read it).
 * @example const applying = await startApplier({ bus, kube, inventory, log, registry, holdUntil })
 */
export async function startApplier(options: ApplierOptions): Promise<Applier> {
  const { bus, kube, inventory, log } = options;
  const now = options.now ?? (() => new Date());
  const holdUntil = options.holdUntil ?? (() => undefined);
  const maxHoldMs = options.maxHoldMs ?? 15 * 60_000;
  const pendingTimeoutMs = options.pendingTimeoutMs ?? 10 * 60_000;
  const metrics = workerMetrics(options.registry);
  const coalescing = options.coalescing ?? new CoalescingCounter();
  /** Triggers waiting for Flux (or for our own patch in flight), one per object: the newest. */
  const waiters = new Map<string, Waiter>();
  /** Objects with a patch of ours in flight. */
  const patching = new Set<string>();
  /** Objects held for a window: when the trigger is released (the window opens, or the hold is re-checked). */
  const heldForWindow = new Map<string, { until: number; opens: Date; trigger: Trigger; since: Date }>();
  const outcome = options.onOutcome ?? (() => {});
  let stopped = false;

  const keyOf = (t: Trigger) => objectRefKey(t.target);
  const gauges = () => {
    const t = Date.now();
    for (const [k, h] of heldForWindow) if (h.until <= t) heldForWindow.delete(k);
    metrics.held.set({ reason: "window" }, heldForWindow.size);
    metrics.held.set({ reason: "pending" }, waiters.size);
  };
  const gaugeTimer = setInterval(gauges, 5000);
  gaugeTimer.unref?.();

  /** A trigger that will never patch on its own: a newer one for the same object took its place. */
  const supersede = (d: Delivery, t: Trigger) => {
    d.ack();
    outcome(t, { result: "superseded" });
    metrics.triggersCoalesced.inc();
    metrics.patches.inc({ result: "superseded" });
  };

  /** Keeps the trigger until the object's state changes or `deadline`; of two for one object, the newer stays. */
  const wait = (delivery: Delivery, trigger: Trigger, kind: FluxKind, deadline: Date | undefined) => {
    const key = keyOf(trigger);
    const existing = waiters.get(key);
    if (existing !== undefined) {
      if (existing.delivery.seq > delivery.seq) return supersede(delivery, trigger);
      waiters.delete(key);
      if (existing.timer !== undefined) clearTimeout(existing.timer);
      // The same message delivered again is the one we hold: nothing to settle twice.
      if (existing.delivery.seq < delivery.seq) supersede(existing.delivery, existing.trigger);
    }
    const waiter: Waiter = { delivery, trigger, kind, timer: undefined, since: new Date(), deadline };
    if (deadline !== undefined) {
      waiter.timer = setTimeout(() => release(key), Math.max(0, deadline.getTime() - Date.now()) + 1);
      waiter.timer.unref?.();
    }
    waiters.set(key, waiter);
    gauges();
  };

  /** Decides a waiting trigger again, unless a newer trigger for the object replaced it on the stream. */
  const release = (key: string) => {
    const w = waiters.get(key);
    if (w === undefined || stopped) return;
    waiters.delete(key);
    if (w.timer !== undefined) clearTimeout(w.timer);
    gauges();
    void (async () => {
      if (!(await w.delivery.stored())) return supersede(w.delivery, w.trigger);
      await handle(w.delivery, w.trigger, w.kind);
    })().catch((e: unknown) => {
      log.error({ err: e, object: key }, "trigger not handled; it is delivered again later");
      if (!w.delivery.settled()) w.delivery.nak(failureDelayMs(w.delivery.deliveries));
    });
  };

  const unsubscribe = inventory.onChange((current, previous) => {
    const o = current ?? previous;
    if (o === undefined) return;
    const key = objectRefKey(o);
    if (waiters.has(key) && !patching.has(key)) release(key);
  });

  const handle = async (d: Delivery, t: Trigger, kind: FluxKind, conflicts = 0): Promise<void> => {
    const key = keyOf(t);
    if (patching.has(key)) return wait(d, t, kind, undefined);
    const object = inventory.snapshot.get(kind.kind, t.target.namespace, t.target.name);
    const at = now();
    const opens = holdUntil({ ...t.target, labels: object?.labels ?? t.labels }, at);
    const decision = decide({ eventId: t.event.id, object, holdUntil: opens, now: at, pendingTimeoutMs });
    switch (decision.action) {
      case "skip":
        metrics.patches.inc({ result: decision.reason });
        if (decision.reason === "suspended") metrics.skipped.inc({ stage: "apply", reason: "suspended" });
        outcome(t, { result: "skipped", reason: decision.reason });
        log.debug({ object: key, event: t.event.id, reason: decision.reason }, "trigger dropped without a patch");
        d.ack();
        return;
      case "hold": {
        const delay = Math.min(decision.until.getTime() - at.getTime() + OPENING_MARGIN_MS, maxHoldMs);
        heldForWindow.set(key, { until: at.getTime() + delay, opens: decision.until, trigger: t, since: heldForWindow.get(key)?.since ?? at });
        gauges();
        outcome(t, { result: "held", until: decision.until.toISOString() });
        log.info({ object: key, event: t.event.id, until: decision.until.toISOString(), recheckMs: delay }, "deployment window closed; trigger held");
        d.nak(delay);
        return;
      }
      case "wait":
        log.debug({ object: key, event: t.event.id, deadline: decision.deadline.toISOString() }, "previous reconcile request not handled yet; trigger waits");
        outcome(t, { result: "waiting", deadline: decision.deadline.toISOString() });
        return wait(d, t, kind, decision.deadline);
      case "patch": {
        heldForWindow.delete(key);
        const patched = await patch(d, t, kind, object, at);
        if (patched !== "conflict") return;
        if (conflicts + 1 < CONFLICT_ATTEMPTS) return handle(d, t, kind, conflicts + 1);
        retryLater(d, t, "the object kept changing under our reconcile request; trigger delivered again later");
        return;
      }
    }
  };

  /** Patches, and settles the delivery unless the precondition failed ("conflict": the caller decides again). */
  const patch = async (d: Delivery, t: Trigger, kind: FluxKind, object: InventoryObject | undefined, at: Date): Promise<"done" | "conflict"> => {
    const key = keyOf(t);
    const token = formatRfc3339Nano(at);
    const metadata: Record<string, unknown> = { annotations: { [REQUESTED_AT]: token, [REQUESTED_FOR]: requestedForValue(token, t.event.id) } };
    if (object?.resourceVersion !== undefined) metadata.resourceVersion = object.resourceVersion;
    if (kube === "dry-run") {
      metrics.patches.inc({ result: "dry_run" });
      log.info({ object: key, event: t.event.id, change: t.event.change, via: t.via, patch: { metadata } }, `dry run: would request a reconcile of ${t.target.kind} ${t.target.namespace}/${t.target.name}`);
      outcome(t, { result: "would-request" });
      d.ack();
      return "done";
    }
    patching.add(key);
    try {
      const result = await kube.patch(kind, t.target.namespace, t.target.name, { type: "merge", body: { metadata } });
      inventory.observe(result);
      metrics.patches.inc({ result: "patched" });
      metrics.latency.observe(Math.max(0, Date.now() - Date.parse(t.event.receivedAt)) / 1000);
      log.info({ object: key, event: t.event.id, change: t.event.change, via: t.via, requestedAt: token }, "reconcile requested");
      outcome(t, { result: "requested" });
      d.ack();
      return "done";
    } catch (e) {
      if (isKubeApiError(e) && e.status === 409) {
        // Someone wrote the object since the inventory saw it: read it, so the next decision is on what is there now.
        try {
          inventory.observe(await kube.get(kind, t.target.namespace, t.target.name));
        } catch (x) {
          if (!(isKubeApiError(x) && x.status === 404)) throw x;
          return gone(d, t);
        }
        return "conflict";
      }
      if (isKubeApiError(e) && e.status === 404) return gone(d, t);
      retryLater(d, t, "reconcile request failed; trigger delivered again later", e);
      return "done";
    } finally {
      patching.delete(key);
      if (waiters.has(key)) release(key);
    }
  };

  /** The patch did not happen: counted, logged, and the trigger delivered again after a back-off. */
  const retryLater = (d: Delivery, t: Trigger, why: string, err?: unknown) => {
    metrics.patches.inc({ result: "failed" });
    const retryMs = failureDelayMs(d.deliveries);
    log.warn({ ...(err === undefined ? {} : { err }), object: keyOf(t), event: t.event.id, retryMs }, why);
    outcome(t, { result: "failed", retryMs });
    d.nak(retryMs);
  };

  const gone = (d: Delivery, t: Trigger): "done" => {
    metrics.patches.inc({ result: "gone" });
    log.info({ object: keyOf(t), event: t.event.id }, "object gone; trigger dropped");
    outcome(t, { result: "gone" });
    d.ack();
    return "done";
  };

  const onDelivery = async (d: Delivery): Promise<void> => {
    let t: Trigger;
    try {
      t = triggerSchema.parse(JSON.parse(decoder.decode(d.data)));
    } catch (e) {
      const why = e instanceof z.ZodError ? z.prettifyError(e) : (e as Error).message;
      log.error({ subject: d.subject, seq: d.seq, problem: why }, "not a Trigger; dropped");
      metrics.patches.inc({ result: "invalid" });
      d.term();
      return;
    }
    const kind = findFluxKind(t.target.kind);
    if (kind === undefined || triggerSubject(t.target) !== d.subject) {
      log.error({ subject: d.subject, target: t.target }, "trigger for an unknown kind or on the wrong subject; dropped");
      metrics.patches.inc({ result: "invalid" });
      d.term();
      return;
    }
    const coalesced = coalescing.delivered(d.subject, d.seq);
    if (coalesced > 0) metrics.triggersCoalesced.inc(coalesced);
    await handle(d, t, kind);
  };

  const consumption = await bus.consume(options.consumer ?? APPLIER_CONSUMER, onDelivery, {
    concurrency: options.concurrency ?? 16,
    onError: (e, d) => log.error({ err: e, subject: d.subject, seq: d.seq }, "applying a trigger failed; it is delivered again later"),
  });
  const held = (): HeldTrigger[] => {
    gauges();
    const entry = (object: string, reason: HeldTrigger["reason"], t: Trigger, since: Date, until: Date | undefined): HeldTrigger => ({
      object,
      reason,
      ...(until === undefined ? {} : { until: until.toISOString() }),
      event: t.event.id,
      ...(t.event.change === undefined ? {} : { change: t.event.change }),
      since: since.toISOString(),
    });
    return [
      ...[...heldForWindow].map(([k, h]) => entry(k, "window", h.trigger, h.since, h.opens)),
      ...[...waiters].map(([k, w]) => entry(k, "pending", w.trigger, w.since, w.deadline)),
    ].sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : 0));
  };
  return {
    held,
    async stop() {
      stopped = true;
      unsubscribe();
      clearInterval(gaugeTimer);
      for (const w of waiters.values()) if (w.timer !== undefined) clearTimeout(w.timer);
      waiters.clear();
      // Unsettled triggers (the waiting ones) are nak'ed by the consumption, for another worker to take at once.
      await consumption.stop();
      gauges();
    },
  };
}
