/**
 * Prometheus metrics of the apply worker, registered once per registry: events routed, objects targeted, triggers
 * coalesced and held, patches by result, and the time from a delivery's receipt to the patch that asks Flux to act.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import type { Registry } from "prom-client";

export type WorkerMetrics = {
  /** `result`: routed (triggers stored), no_targets, invalid (not a ChangeEvent; terminated), failed (nak'ed). */
  eventsRouted: Counter<"result">;
  /** Objects events resolved to; `via`: source or receiver. Suspended ones are counted in `skipped` instead. */
  objectsTargeted: Counter<"kind" | "via">;
  /** Targets and triggers dropped without a patch; `reason`: suspended. */
  skipped: Counter<"stage" | "reason">;
  /** Triggers that never caused a patch of their own: replaced on the stream by a newer trigger for the same object, or superseded while waiting. */
  triggersCoalesced: Counter<string>;
  /** Triggers this process holds: `window` (nak'ed until the window opens), `pending` (waiting for Flux to handle our previous request). */
  held: Gauge<"reason">;
  /** `result`: patched, gone (404), failed (nak'ed for another try), suspended, duplicate (already requested for that event), superseded (a newer trigger took its place), invalid. */
  patches: Counter<"result">;
  /** From the delivery's receipt by the receiver (`receivedAt` of the newest event a trigger carries) to the patch's answer. */
  latency: Histogram<string>;
  /** Objects in the inventory, by kind (set by the inventory). */
  inventoryObjects: Gauge<"kind">;
};

const byRegistry = new WeakMap<Registry, WorkerMetrics>();

/** The worker's metrics in `registry`, created on first use. */
export function workerMetrics(registry: Registry): WorkerMetrics {
  const known = byRegistry.get(registry);
  if (known !== undefined) return known;
  const registers = [registry];
  const metrics: WorkerMetrics = {
    eventsRouted: new Counter({ name: "fluxgate_worker_events_routed_total", help: "Events taken from FLUXGATE_EVENTS, by outcome.", labelNames: ["result"] as const, registers }),
    objectsTargeted: new Counter({ name: "fluxgate_worker_objects_targeted_total", help: "Flux objects events were routed to (one trigger each).", labelNames: ["kind", "via"] as const, registers }),
    skipped: new Counter({ name: "fluxgate_worker_skipped_total", help: "Targets and triggers dropped without a patch, by stage and reason.", labelNames: ["stage", "reason"] as const, registers }),
    triggersCoalesced: new Counter({ name: "fluxgate_worker_triggers_coalesced_total", help: "Triggers folded into a newer trigger for the same object instead of patching on their own.", registers }),
    held: new Gauge({ name: "fluxgate_worker_triggers_held", help: "Triggers this process holds back: until a deployment window opens, or until Flux handled the previous request.", labelNames: ["reason"] as const, registers }),
    patches: new Counter({ name: "fluxgate_worker_patches_total", help: "Reconcile requests (merge patches of reconcile.fluxcd.io/requestedAt) by result.", labelNames: ["result"] as const, registers }),
    latency: new Histogram({
      name: "fluxgate_worker_delivery_to_patch_seconds",
      help: "Time from the receipt of the newest delivery a trigger carries to the reconcile request's answer.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers,
    }),
    inventoryObjects: new Gauge({ name: "fluxgate_worker_inventory_objects", help: "Flux objects the worker's inventory holds, by kind.", labelNames: ["kind"] as const, registers }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
