/**
 * The apply worker of one process: the inventory, then — once it is synced and the bus is there — the router and
 * the applier on the shared durable consumers. Any number of processes run it side by side.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Bus, ConsumerSpec, Consumption } from "../events/bus.ts";
import type { KubeClient } from "../kube/client.ts";
import { startApplier } from "./applier.ts";
import type { Applier, HeldTrigger, HoldUntil, TriggerOutcome } from "./applier.ts";
import type { ChangeEvent } from "../events/change-event.ts";
import type { Trigger } from "../events/trigger.ts";
import type { RoutedTarget } from "./router.ts";
import { CoalescingCounter } from "./coalescing.ts";
import { startInventory } from "./inventory.ts";
import type { Inventory } from "./inventory.ts";
import { startRouter } from "./router.ts";

/** What a worker is given besides where its objects come from. */
export type WorkerSettings = {
  /** The bus, or a function returning it once it is connected (undefined until then). */
  bus: Bus | (() => Bus | undefined);
  log: Logger;
  registry: Registry;
  /** Deployment windows (`src/policy`); default: always open. */
  holdUntil?: HoldUntil;
  now?: () => Date;
  router?: { concurrency?: number; consumer?: ConsumerSpec };
  applier?: { concurrency?: number; consumer?: ConsumerSpec; maxHoldMs?: number; pendingTimeoutMs?: number };
  /** Told what the router and the applier did with each event (the status page). */
  onRouted?: (event: ChangeEvent, targets: RoutedTarget[]) => void;
  onOutcome?: (trigger: Trigger, outcome: TriggerOutcome) => void;
};

export type WorkerOptions = WorkerSettings & (
  | {
      /** The cluster: its Flux objects are watched, and reconciles requested with merge patches. */
      kube: KubeClient;
      inventory?: { resyncMs?: number; absentRetryMs?: number };
    }
  | {
      /** No cluster: a fixed inventory (`serve --manifests`), and every reconcile only logged. */
      kube: "dry-run";
      inventory: Inventory;
    }
);

export type Worker = {
  inventory: Inventory;
  /** Triggers this process holds now (closed windows, requests Flux has not handled yet). */
  held(): HeldTrigger[];
  /** Resolves once the inventory is synced and the router and applier consume. */
  running: Promise<void>;
  stop(): Promise<void>;
};

const BUS_POLL_MS = 100;

/**
 * Starts the worker.
 * @example const worker = startWorker({ bus, kube, log, registry, holdUntil }); await worker.running;
 */
export function startWorker(options: WorkerOptions): Worker {
  const log = options.log.child({ role: "worker" });
  const inventory = options.kube === "dry-run" ? options.inventory : startInventory({ client: options.kube, log, registry: options.registry, ...options.inventory });
  const consumptions: Consumption[] = [];
  let applier: Applier | undefined;
  let stopped = false;

  const busNow = typeof options.bus === "function" ? options.bus : () => options.bus as Bus;
  const waitForBus = async (): Promise<Bus | undefined> => {
    for (;;) {
      const bus = busNow();
      if (bus !== undefined || stopped) return bus;
      await new Promise((r) => setTimeout(r, BUS_POLL_MS));
    }
  };

  const running = (async () => {
    await inventory.whenSynced();
    log.info({ inventory: inventory.describe() }, "inventory synced");
    const bus = await waitForBus();
    if (bus === undefined || stopped) return;
    const coalescing = new CoalescingCounter();
    const common = { bus, inventory, log, registry: options.registry, coalescing, ...(options.now === undefined ? {} : { now: options.now }) };
    applier = await startApplier({
      ...common,
      kube: options.kube,
      ...options.applier,
      ...(options.holdUntil === undefined ? {} : { holdUntil: options.holdUntil }),
      ...(options.onOutcome === undefined ? {} : { onOutcome: options.onOutcome }),
    });
    consumptions.push(applier);
    if (stopped) return;
    consumptions.push(await startRouter({ ...common, ...options.router, ...(options.onRouted === undefined ? {} : { onRouted: options.onRouted }) }));
    log.info({ bus: bus.kind }, "routing events and applying triggers");
  })();
  running.catch((e: unknown) => {
    if (!stopped) log.error({ err: e }, "worker did not start");
  });

  return {
    inventory,
    held: () => applier?.held() ?? [],
    running,
    async stop() {
      stopped = true;
      // An inventory still listing holds `running` up; stopping it lets `running` end.
      if (!inventory.synced()) await inventory.stop();
      await running.catch(() => {});
      for (const c of consumptions.reverse()) await c.stop();
      await inventory.stop();
    },
  };
}
