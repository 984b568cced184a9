/**
 * The router: a durable consumer on FLUXGATE_EVENTS that resolves each event to Flux objects (`targets`) and stores
 * one trigger per object on FLUXGATE_TRIGGERS, then acks the event. The ack comes only after every trigger is
 * stored, so an event is never lost; a redelivered event republishes the same message ids, which the stream drops.
 */
import { setImmediate } from "node:timers";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { z } from "zod";
import type { Bus, ConsumerSpec, Consumption, Delivery } from "../events/bus.ts";
import { changeEvent } from "../events/change-event.ts";
import type { ChangeEvent } from "../events/change-event.ts";
import { ROUTER_CONSUMER } from "../events/consumers.ts";
import { failureDelayMs } from "../events/dispatcher.ts";
import { triggerMsgId, triggerSubject } from "../events/trigger.ts";
import type { Trigger } from "../events/trigger.ts";
import { CoalescingCounter } from "./coalescing.ts";
import type { Inventory } from "./inventory.ts";
import { workerMetrics } from "./metrics.ts";
import { objectRefKey } from "./inventory-object.ts";
import { targets } from "./targeting.ts";
import type { Target } from "./targeting.ts";

export type RouterOptions = {
  bus: Bus;
  inventory: Inventory;
  log: Logger;
  registry: Registry;
  now?: () => Date;
  /** Shared with the applier of the same process. */
  coalescing?: CoalescingCounter;
  consumer?: ConsumerSpec;
  /** Most events routed in one batch; default 512 (two batches may be in flight). A burst routed in big batches stores one trigger per object per batch. */
  concurrency?: number;
  /** Told each routed event's objects (the status page's deliveries), after the event is acked. */
  onRouted?: (event: ChangeEvent, targets: RoutedTarget[]) => void;
};

/**
 * An object an event concerns: `triggered` (its trigger carries this event), `coalesced` (a newer event of the same
 * batch carries the trigger), `suspended` (skipped, as Flux would ignore the request).
 */
export type RoutedTarget = { object: string; state: "triggered" | "coalesced" | "suspended" };

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** `refs/heads/main@6113728`, `ghcr.io/org/app:1.2.3`: what moved, for logs. */
export function changeSummary(event: ChangeEvent): string | undefined {
  if (event.git !== undefined) return event.git.commit === undefined ? event.git.ref : `${event.git.ref}@${event.git.commit.slice(0, 7)}`;
  if (event.image !== undefined) return `${event.image.repository}${event.image.tag === undefined ? "" : `:${event.image.tag}`}${event.image.digest === undefined ? "" : `@${event.image.digest}`}`;
  return undefined;
}

/** The trigger the router stores for one target of `event`. */
export function triggerFor(event: ChangeEvent, t: Target, routedAt: Date): Trigger {
  const change = changeSummary(event);
  return {
    target: { namespace: t.namespace, kind: t.kind, name: t.name },
    labels: t.labels,
    via: t.via,
    event: { id: event.id, provider: event.provider, receiver: event.receiver, kind: event.kind, ...(change === undefined ? {} : { change }), receivedAt: event.receivedAt },
    routedAt: routedAt.toISOString(),
  };
}

/**
 * Starts routing. Wait for the inventory to sync first: an event routed on a partial inventory misses objects.
 *
 * Events are routed in small batches (those delivered together, up to `concurrency`): an object several events of a
 * batch concern gets one trigger, for the newest of them, stored before any of the batch is acked. That trigger is
 * stored after every event of the batch was received, so the reconcile it leads to covers them all; in a burst it
 * saves most trigger publishes.
 * @example const routing = await startRouter({ bus, inventory, log, registry })
 */
export async function startRouter(options: RouterOptions): Promise<Consumption> {
  const { bus, inventory, log } = options;
  const now = options.now ?? (() => new Date());
  const metrics = workerMetrics(options.registry);
  const coalescing = options.coalescing ?? new CoalescingCounter();
  const concurrency = options.concurrency ?? 512;

  const parse = (d: Delivery): ChangeEvent | undefined => {
    try {
      return changeEvent.parse(JSON.parse(decoder.decode(d.data)));
    } catch (e) {
      metrics.eventsRouted.inc({ result: "invalid" });
      const why = e instanceof z.ZodError ? z.prettifyError(e) : (e as Error).message;
      log.error({ subject: d.subject, seq: d.seq, problem: why }, "not a ChangeEvent; dropped");
      d.term();
      return undefined;
    }
  };

  const route = async (batch: Delivery[]): Promise<void> => {
    const events: Array<{ d: Delivery; event: ChangeEvent }> = [];
    for (const d of batch) {
      const event = parse(d);
      if (event !== undefined) events.push({ d, event });
    }
    if (events.length === 0) return;
    if (!inventory.synced()) await inventory.whenSynced();
    /** Per trigger subject, the newest event (highest stream sequence) concerning the object. */
    const newest = new Map<string, { target: Target; event: ChangeEvent; seq: number; events: number }>();
    const outcomes: Array<{ event: ChangeEvent; live: Target[]; suspended: Target[] }> = [];
    for (const { d, event } of events) {
      const found = targets(event, inventory.snapshot);
      const live = found.filter((t) => !t.suspended);
      outcomes.push({ event, live, suspended: found.filter((t) => t.suspended) });
      for (const t of live) {
        const subject = triggerSubject(t);
        const held = newest.get(subject);
        if (held === undefined || held.seq < d.seq) newest.set(subject, { target: t, event, seq: d.seq, events: (held?.events ?? 0) + 1 });
        else held.events++;
      }
    }
    const routedAt = now();
    try {
      await Promise.all(
        [...newest].map(async ([subject, { target, event }]) => {
          const ack = await bus.publish(subject, encoder.encode(JSON.stringify(triggerFor(event, target, routedAt))), triggerMsgId(event.id, target));
          if (!ack.duplicate) coalescing.published(subject, ack.seq);
        }),
      );
    } catch (e) {
      metrics.eventsRouted.inc({ result: "failed" }, events.length);
      for (const { d } of events) d.nak(failureDelayMs(d.deliveries));
      log.warn({ err: e, events: events.map((x) => x.event.id) }, "triggers not stored; the events are routed again later");
      return;
    }
    for (const { events: n } of newest.values()) if (n > 1) metrics.triggersCoalesced.inc(n - 1);
    for (const { d } of events) d.ack();
    for (const { event, live, suspended } of outcomes) {
      for (const t of live) metrics.objectsTargeted.inc({ kind: t.kind, via: t.via });
      if (suspended.length > 0) metrics.skipped.inc({ stage: "route", reason: "suspended" }, suspended.length);
      metrics.eventsRouted.inc({ result: live.length === 0 ? "no_targets" : "routed" });
      if (options.onRouted !== undefined) {
        options.onRouted(event, [
          ...live.map((t): RoutedTarget => ({ object: objectRefKey(t), state: newest.get(triggerSubject(t))?.event === event ? "triggered" : "coalesced" })),
          ...suspended.map((t): RoutedTarget => ({ object: objectRefKey(t), state: "suspended" })),
        ]);
      }
      if (log.isLevelEnabled("debug")) {
        log.debug(
          {
            event: event.id,
            provider: event.provider,
            receiver: `${event.receiver.namespace}/${event.receiver.name}`,
            change: changeSummary(event),
            targets: live.map(objectRefKey),
            suspended: suspended.map(objectRefKey),
          },
          "event routed",
        );
      }
    }
  };

  const batches = createBatcher(concurrency, route);
  return bus.consume(options.consumer ?? ROUTER_CONSUMER, (d) => batches.add(d), {
    // Room for the next batch to gather while one is being stored.
    concurrency: 2 * concurrency,
    onError: (e, d) => log.error({ err: e, subject: d.subject, seq: d.seq }, "routing failed; the event is routed again later"),
  });
}

/**
 * Collects items handed over together — in one turn of the event loop, up to `max` — and runs `flush` once for
 * them; each `add` resolves (or rejects) with its batch.
 */
function createBatcher<T>(max: number, flush: (batch: T[]) => Promise<void>): { add(item: T): Promise<void> } {
  let pending: Array<{ item: T; resolve: () => void; reject: (e: unknown) => void }> = [];
  let scheduled = false;
  const run = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    flush(batch.map((p) => p.item)).then(
      () => batch.forEach((p) => p.resolve()),
      (e: unknown) => batch.forEach((p) => p.reject(e)),
    );
  };
  return {
    add(item) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ item, resolve, reject });
        if (pending.length >= max) run();
        else if (!scheduled) {
          scheduled = true;
          setImmediate(run);
        }
      });
    },
  };
}
