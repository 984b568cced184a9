/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it, so that only one
 * replica acts at a time (the freeze controller). Every write carries the resourceVersion it read, so two replicas
 * racing for the lease cannot both win. A lease held by someone else is taken over only after its record has not
 * changed for its whole duration by *our* clock (client-go's observed-time rule: clock skew between nodes does not
 * matter). Releasing empties the holder, so a successor takes over at once.
 */
import { z } from "zod";
import { isKubeApiError, isKubeNotFound } from "../errors.ts";
import type { KubeClient } from "../kube/client.ts";
import type { KubeObject } from "../kube/object.ts";
import type { ResourceType } from "../kube/resource.ts";
import type { Logger } from "../observability/logger.ts";

export const LEASE: ResourceType = { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true };

const leaseSpecSchema = z.looseObject({
  holderIdentity: z.string().optional(),
  leaseDurationSeconds: z.number().int().optional(),
  acquireTime: z.string().optional(),
  renewTime: z.string().optional(),
  leaseTransitions: z.number().int().optional(),
});

export type LeaseLockOptions = {
  client: KubeClient;
  log: Logger;
  namespace: string;
  name: string;
  /** This replica, e.g. the pod name; unique among replicas. */
  identity: string;
  /**
   * How long a lease stays ours without renewal. Default 30 s. We stop acting two thirds of it after the last
   * renewal (client-go's renew deadline), well before another replica may take over.
   */
  durationMs?: number;
  clock: { now(): number };
};

export type LeaseLock = {
  /** Takes the lease if it is free or expired, renews it if it is ours; true while we hold it. Never throws. */
  tryAcquireOrRenew(): Promise<boolean>;
  /** Whether we hold the lease now: the last renewal succeeded less than the renew deadline ago. */
  isLeader(): boolean;
  /** Gives the lease up (if ours) so another replica can take it at once. Never throws. */
  release(): Promise<void>;
};

/**
 * `metav1.MicroTime`: RFC 3339 with microseconds, as the API server writes Lease times.
 * @example microTime(Date.parse("2026-03-29T01:00:00.5Z")) // "2026-03-29T01:00:00.500000Z"
 */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * A lock on one Lease object.
 * @example const lock = createLeaseLock({ client, log, namespace: "fluxgate-system", name: "fluxgate-freeze", identity: podName, clock: systemClock })
 */
export function createLeaseLock(options: LeaseLockOptions): LeaseLock {
  const { client, namespace, name, identity, clock } = options;
  const durationMs = options.durationMs ?? 30_000;
  const renewDeadlineMs = Math.floor((durationMs * 2) / 3);
  const log = options.log.child({ lease: `${namespace}/${name}`, identity });
  let renewedAt: number | undefined;
  let held: KubeObject | undefined;
  /** The other holder's record as last seen, and when we first saw it so. */
  let observed: { resourceVersion: string | undefined; at: number } | undefined;

  const spec = (o: KubeObject) => leaseSpecSchema.parse(o.spec ?? {});
  const lost = (why: string): false => {
    if (renewedAt !== undefined) log.warn({ why }, "lost the lease");
    renewedAt = undefined;
    held = undefined;
    return false;
  };

  async function attempt(): Promise<boolean> {
    const now = clock.now();
    const leaseSeconds = Math.max(1, Math.ceil(durationMs / 1000));
    let current: KubeObject;
    try {
      current = await client.get(LEASE, namespace, name);
    } catch (e) {
      if (!isKubeNotFound(e)) throw e;
      const fresh: KubeObject = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: leaseSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      };
      held = await client.create(LEASE, fresh);
      renewedAt = now;
      log.info("acquired the lease (created it)");
      return true;
    }
    const s = spec(current);
    const holder = s.holderIdentity ?? "";
    if (holder !== "" && holder !== identity) {
      if (observed === undefined || observed.resourceVersion !== current.metadata.resourceVersion) observed = { resourceVersion: current.metadata.resourceVersion, at: now };
      const theirs = (s.leaseDurationSeconds ?? leaseSeconds) * 1000;
      if (now < observed.at + theirs) return lost(`held by ${holder}`);
      log.info({ previous: holder }, "the lease expired; taking it over");
    }
    const mine = holder === identity;
    const next: KubeObject = {
      ...current,
      spec: {
        ...s,
        holderIdentity: identity,
        leaseDurationSeconds: leaseSeconds,
        renewTime: microTime(now),
        acquireTime: mine && s.acquireTime !== undefined ? s.acquireTime : microTime(now),
        leaseTransitions: (s.leaseTransitions ?? 0) + (mine || holder === "" ? 0 : 1),
      },
    };
    held = await client.update(LEASE, next);
    if (renewedAt === undefined) log.info("acquired the lease");
    renewedAt = now;
    observed = undefined;
    return true;
  }

  return {
    async tryAcquireOrRenew() {
      try {
        return await attempt();
      } catch (e) {
        // 409: another replica wrote first (created it, or renewed/took it between our read and write).
        if (isKubeApiError(e) && e.status === 409) return lost("another replica wrote the lease first");
        log.warn({ err: e }, "could not acquire or renew the lease");
        // Keep leadership until it would have expired: a brief API hiccup should not stop the work.
        if (renewedAt !== undefined && clock.now() - renewedAt >= renewDeadlineMs) return lost("renewal failed past the renew deadline");
        return renewedAt !== undefined;
      }
    },
    isLeader() {
      return renewedAt !== undefined && clock.now() - renewedAt < renewDeadlineMs;
    },
    async release() {
      if (held === undefined) return;
      const last = held;
      held = undefined;
      renewedAt = undefined;
      try {
        const s = spec(last);
        const { holderIdentity: _gone, ...rest } = s;
        await client.update(LEASE, { ...last, spec: { ...rest, leaseDurationSeconds: 1, renewTime: microTime(clock.now()) } });
        log.info("released the lease");
      } catch (e) {
        log.warn({ err: e }, "could not release the lease; another replica takes over when it expires");
      }
    },
  };
}
