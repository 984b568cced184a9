/**
 * Freezes that really stop Flux: while a window with `freeze: true` keeps a Kustomization or HelmRelease closed,
 * the object is suspended (`spec.suspend: true`, annotated `fluxgate.io/suspended-by-window: <window>`); once it is
 * no longer frozen, exactly the objects carrying that annotation are resumed and asked to reconcile. An object a
 * person suspended (suspended, without our annotation) is never touched.
 *
 * All state is in those annotations, and each pass compares the cluster with what the windows say now (level, not
 * edge): a restart, a missed transition or a second replica neither loses nor repeats work. Writes are merge patches
 * carrying the resourceVersion that was judged, so a concurrent change is re-read and judged again. Only the holder
 * of a Lease acts. A pass runs at every window start and end, every `resyncMs`, on a policy change and on taking
 * the lease.
 *
 * An object whose annotation is present but which is running (break-glass resumed it during the freeze) is left
 * running; removing the annotation from a suspended object keeps it suspended after the freeze.
 */
import type { Registry } from "prom-client";
import { z } from "zod";
import { isKubeApiError, isKubeNotFound } from "../errors.ts";
import { fluxKind } from "../flux/kinds.ts";
import type { KubeClient } from "../kube/client.ts";
import type { KubeObject } from "../kube/object.ts";
import { REQUESTED_AT, formatRfc3339Nano } from "../kube/reconcile-request.ts";
import type { MergePatch } from "../kube/patches.ts";
import type { ResourceType } from "../kube/resource.ts";
import { systemClock } from "../kube/retry-policy.ts";
import type { Logger } from "../observability/logger.ts";
import { nextPolicyTransition, windowDecision } from "../policy/window-decision.ts";
import type { WindowDecision } from "../policy/window-decision.ts";
import { windowMetrics } from "../policy/window-metrics.ts";
import type { WindowPolicy } from "../policy/windows.ts";
import { createLeaseLock } from "./lease.ts";

/** Written on objects the freeze suspended; its value is the window's name. */
export const SUSPENDED_BY_WINDOW = "fluxgate.io/suspended-by-window";

/** The kinds a freeze suspends: those that apply to the cluster. */
export const FREEZE_KINDS = ["Kustomization", "HelmRelease"] as const;

/** Time as the controller sees it; tests pass one they move by hand. `systemClock` of src/kube fits. */
export type FreezeClock = { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<void> };

export type FreezeControllerOptions = {
  client: KubeClient;
  log: Logger;
  registry: Registry;
  /** The current window policy (read at every pass, so a reload applies at the next one). */
  policy: () => WindowPolicy;
  /** The tenant owning a namespace, for windows limited to tenants. */
  tenantOf?: (namespace: string) => string | undefined;
  clock?: FreezeClock;
  /** Where the Lease lives (Fluxgate's own namespace). */
  leaseNamespace: string;
  /** Default `fluxgate-freeze`. */
  leaseName?: string;
  /** This replica (the pod name). */
  identity: string;
  /** Default 30 s; the lease is renewed every third of it. */
  leaseDurationMs?: number;
  /** A full pass at least this often besides window edges, for objects created or changed meanwhile. Default 60 s. */
  resyncMs?: number;
};

/** One write the controller made. */
export type FreezeAction = { action: "suspend" | "resume"; kind: string; namespace: string; name: string; window: string };

/** What one pass did. */
export type FreezePass = { at: Date; actions: FreezeAction[]; failures: number; nextTransition?: Date };

export type FreezeController = {
  /** Stops after the current pass and releases the lease. */
  stop(): Promise<void>;
  isLeader(): boolean;
  /** Passes completed so far. */
  passes(): number;
  lastPass(): FreezePass | undefined;
};

const suspendSchema = z.looseObject({ suspend: z.boolean().optional() });

/**
 * What the freeze controller does with one object, given its window decision: `suspend` when a freeze window keeps
 * it closed and it is neither ours already nor suspended by a person; `resume` when it carries our annotation and is
 * no longer frozen; else nothing.
 * @example plannedFreezeAction(ks, { open: false, reason: "deny", deciding: ["year-end"], freezeBy: "year-end" }) // { action: "suspend", window: "year-end" }
 */
export function plannedFreezeAction(object: KubeObject, decision: WindowDecision): { action: "suspend" | "resume"; window: string } | undefined {
  if (object.metadata.deletionTimestamp !== undefined) return undefined;
  const ours = object.metadata.annotations?.[SUSPENDED_BY_WINDOW];
  if (decision.freezeBy !== undefined) {
    const spec = suspendSchema.safeParse(object.spec ?? {});
    const suspended = spec.success && spec.data.suspend === true;
    if (ours !== undefined || suspended) return undefined;
    return { action: "suspend", window: decision.freezeBy };
  }
  return ours === undefined ? undefined : { action: "resume", window: ours };
}

/** The merge patch for an action, conditional on the resourceVersion that was judged. */
export function freezePatch(action: "suspend" | "resume", window: string, object: KubeObject, at: Date): MergePatch {
  const resourceVersion = object.metadata.resourceVersion;
  if (action === "suspend") return { metadata: { resourceVersion, annotations: { [SUSPENDED_BY_WINDOW]: window } }, spec: { suspend: true } };
  return { metadata: { resourceVersion, annotations: { [SUSPENDED_BY_WINDOW]: null, [REQUESTED_AT]: formatRfc3339Nano(at) } }, spec: { suspend: false } };
}

/**
 * Starts the controller; it runs until `stop()`.
 * @example
 * const freeze = startFreezeController({ client: kube, log, registry, policy: () => config.current().policy, leaseNamespace: "fluxgate-system", identity: podName });
 */
export function startFreezeController(options: FreezeControllerOptions): FreezeController {
  const { client, registry } = options;
  const log = options.log.child({ component: "freeze" });
  const clock = options.clock ?? systemClock;
  const leaseDurationMs = options.leaseDurationMs ?? 30_000;
  const renewEveryMs = Math.max(1, Math.floor(leaseDurationMs / 3));
  const resyncMs = options.resyncMs ?? 60_000;
  const metrics = windowMetrics(registry);
  const lock = createLeaseLock({
    client,
    log,
    namespace: options.leaseNamespace,
    name: options.leaseName ?? "fluxgate-freeze",
    identity: options.identity,
    durationMs: leaseDurationMs,
    clock,
  });
  const abort = new AbortController();
  let passes = 0;
  let last: FreezePass | undefined;

  async function judgeAndWrite(type: ResourceType, listed: KubeObject, policy: WindowPolicy, at: Date): Promise<FreezeAction | undefined> {
    let object = listed;
    const namespace = object.metadata.namespace ?? "";
    const name = object.metadata.name;
    // A conflict means the object changed after we judged it: judge the fresh one (a person may just have suspended it).
    for (let attempt = 0; attempt < 3; attempt++) {
      const decision = windowDecision(
        policy,
        { namespace, kind: type.kind, name, labels: object.metadata.labels ?? {}, tenant: options.tenantOf?.(namespace) },
        at,
        "reconcile",
      );
      const plan = plannedFreezeAction(object, decision);
      if (plan === undefined) return undefined;
      try {
        await client.patch(type, namespace, name, { type: "merge", body: freezePatch(plan.action, plan.window, object, at) });
      } catch (e) {
        if (isKubeNotFound(e)) return undefined;
        if (isKubeApiError(e) && e.status === 409) {
          object = await client.get(type, namespace, name);
          continue;
        }
        throw e;
      }
      metrics.freezeActions.inc({ action: plan.action, window: plan.window });
      log.info({ kind: type.kind, objectNamespace: namespace, objectName: name, window: plan.window }, plan.action === "suspend" ? "suspended for a deployment window freeze" : "resumed after a deployment window freeze, reconcile requested");
      return { action: plan.action, kind: type.kind, namespace, name, window: plan.window };
    }
    log.warn({ kind: type.kind, objectNamespace: namespace, objectName: name }, "object kept changing under the freeze controller; trying again at the next pass");
    return undefined;
  }

  async function pass(policy: WindowPolicy, now: number): Promise<FreezePass> {
    const at = new Date(now);
    const actions: FreezeAction[] = [];
    let failures = 0;
    for (const kind of FREEZE_KINDS) {
      const type = fluxKind(kind);
      const { items } = await client.list(type);
      for (const object of items) {
        try {
          const action = await judgeAndWrite(type, object, policy, at);
          if (action !== undefined) actions.push(action);
        } catch (e) {
          failures++;
          log.warn({ err: e, kind, objectNamespace: object.metadata.namespace, objectName: object.metadata.name }, "freeze could not update an object; trying again at the next pass");
        }
      }
    }
    const result: FreezePass = { at, actions, failures };
    const next = nextPolicyTransition(policy, at);
    if (next !== undefined) result.nextTransition = next;
    return result;
  }

  async function run(): Promise<void> {
    let wasLeader = false;
    let nextPassAt = 0;
    let lastPolicy: WindowPolicy | undefined;
    while (!abort.signal.aborted) {
      const leader = await lock.tryAcquireOrRenew();
      const policy = options.policy();
      const now = clock.now();
      if (leader && (!wasLeader || now >= nextPassAt || policy !== lastPolicy)) {
        try {
          last = await pass(policy, now);
          lastPolicy = policy;
          nextPassAt = Math.min(now + resyncMs, last.nextTransition?.getTime() ?? Number.POSITIVE_INFINITY);
          nextPassAt = last.failures > 0 ? Math.min(nextPassAt, now + renewEveryMs) : nextPassAt;
        } catch (e) {
          log.warn({ err: e }, "freeze pass failed; trying again shortly");
          nextPassAt = now + renewEveryMs;
        }
        passes++;
      }
      wasLeader = leader;
      const wakeAt = Math.min(clock.now() + renewEveryMs, leader ? nextPassAt : Number.POSITIVE_INFINITY);
      try {
        await clock.sleep(Math.max(0, wakeAt - clock.now()), abort.signal);
      } catch {
        break; // aborted by stop()
      }
    }
    await lock.release();
  }

  const running = run().catch((e: unknown) => log.error({ err: e }, "freeze controller stopped unexpectedly"));
  return {
    async stop() {
      abort.abort();
      await running;
    },
    isLeader: () => lock.isLeader(),
    passes: () => passes,
    lastPass: () => last,
  };
}
