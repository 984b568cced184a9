/**
 * The apply worker of one process: the inventory, then — once it is synced and the bus is there — the router and
 * the applier on the shared durable consumers. Any number of processes run it side by side.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Bus, ConsumerSpec, Consumption } from "../events/bus.ts";
import type { KubeClient } from "../kube/client.ts";
import { startApplier } from "./applier.ts";
import type { HoldUntil } from "./applier.ts";
import { CoalescingCounter } from "./coalescing.ts";
import { startInventory } from "./inventory.ts";
import type { Inventory } from "./inventory.ts";
import { startRouter } from "./router.ts";

export type WorkerOptions = {
  /** The bus, or a function returning it once it is connected (undefined until then). */
  bus: Bus | (() => Bus | undefined);
  kube: KubeClient;
  log: Logger;
  registry: Registry;
  /** Deployment windows (`src/policy`); default: always open. */
  holdUntil?: HoldUntil;
  now?: () => Date;
  router?: { concurrency?: number; consumer?: ConsumerSpec };
  applier?: { concurrency?: number; consumer?: ConsumerSpec; maxHoldMs?: number; pendingTimeoutMs?: number };
  inventory?: { resyncMs?: number; absentRetryMs?: number };
};

export type Worker = {
  inventory: Inventory;
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
  const inventory = startInventory({ client: options.kube, log, registry: options.registry, ...options.inventory });
  const consumptions: Consumption[] = [];
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
    consumptions.push(await startApplier({ ...common, kube: options.kube, ...options.applier, ...(options.holdUntil === undefined ? {} : { holdUntil: options.holdUntil }) }));
    if (stopped) return;
    consumptions.push(await startRouter({ ...common, ...options.router }));
    log.info({ bus: bus.kind }, "routing events and applying triggers");
  })();
  running.catch((e: unknown) => {
    if (!stopped) log.error({ err: e }, "worker did not start");
  });

  return {
    inventory,
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
