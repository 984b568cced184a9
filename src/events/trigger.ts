/**
 * `Trigger`: one Flux object an event concerns, the router's output and the applier's input. Published on
 * `fluxgate.triggers.<namespace>.<kind>.<name>` of FLUXGATE_TRIGGERS, which keeps one message per subject, so a
 * burst of events for one object leaves one pending trigger: the newest. Unknown fields are dropped, as in
 * `ChangeEvent`, so workers of two versions can share the stream during an upgrade.
 */
import { z } from "zod";
import { providerName } from "./change-event.ts";

/** The object, by kind, namespace and name. */
export const triggerTarget = z.object({
  namespace: z.string().min(1),
  /** A Flux kind name (`GitRepository`, `Kustomization`, …). */
  kind: z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/),
  name: z.string().min(1),
});

export const trigger = z.object({
  target: triggerTarget,
  /** The object's labels when routed: deployment windows select by them while the inventory does not hold it. */
  labels: z.record(z.string(), z.string()),
  /** `source`: its URL and ref match the change; `receiver`: a Flux Receiver lists it. */
  via: z.enum(["source", "receiver"]),
  /** The event it comes from: the newest one, when a burst coalesced. */
  event: z.object({
    id: z.string().min(1),
    provider: providerName,
    receiver: z.object({ namespace: z.string().min(1), name: z.string().min(1) }),
    kind: z.enum(["git", "oci", "helm", "generic"]),
    /** What moved, for logs: `refs/heads/main@6113728`, `ghcr.io/org/app:1.2.3`. */
    change: z.string().optional(),
    receivedAt: z.iso.datetime(),
  }),
  routedAt: z.iso.datetime(),
});

export type Trigger = z.output<typeof trigger>;
export type TriggerTarget = z.output<typeof triggerTarget>;

/**
 * The subject of an object's triggers. Kubernetes names may hold dots, which separate NATS subject tokens; they
 * become `_`, which no Kubernetes name holds, so the mapping stays one-to-one.
 * @example triggerSubject({ namespace: "apps", kind: "GitRepository", name: "podinfo.v6" }) // "fluxgate.triggers.apps.GitRepository.podinfo_v6"
 */
export function triggerSubject(target: TriggerTarget): string {
  return `fluxgate.triggers.${target.namespace}.${target.kind}.${target.name.replaceAll(".", "_")}`;
}

/**
 * The trigger's `Nats-Msg-Id`: a redelivered event republishes the same ids, which the stream drops within its
 * duplicate window instead of replacing the pending trigger.
 */
export function triggerMsgId(eventId: string, target: TriggerTarget): string {
  return `${eventId}/${target.namespace}/${target.kind}/${target.name}`;
}
