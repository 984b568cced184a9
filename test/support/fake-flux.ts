/**
 * Flux's side of reconcile requests, for tests and benchmarks against the API emulator: watches objects of the given
 * kinds and, like a Flux controller, picks up a changed `reconcile.fluxcd.io/requestedAt`, "reconciles" for
 * `reconcileMs`, then writes the token it read at the start to `status.lastHandledReconcileAt` (status
 * subresource). A request written meanwhile is picked up after, as the controller's queue would.
 */
import { fluxKind } from "../../src/flux/kinds.ts";
import type { FluxKindName } from "../../src/flux/kinds.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { createInformer } from "../../src/kube/informer.ts";
import type { Informer } from "../../src/kube/informer.ts";
import type { KubeObject } from "../../src/kube/object.ts";
import { REQUESTED_AT } from "../../src/kube/reconcile-request.ts";

export type FakeFlux = {
  /** Every reconcile that handled a request: `Kind namespace/name token`. */
  handled: string[];
  whenSynced: Promise<void>;
  stop(): Promise<void>;
};

const tokenOf = (o: KubeObject) => o.metadata.annotations?.[REQUESTED_AT];
const handledOf = (o: KubeObject) => (o as { status?: { lastHandledReconcileAt?: string } }).status?.lastHandledReconcileAt;

export function startFakeFlux(kube: KubeClient, kinds: FluxKindName[], options: { reconcileMs: number }): FakeFlux {
  const handled: string[] = [];
  const busy = new Set<string>();
  let stopped = false;
  const informers: Informer<KubeObject>[] = [];

  const reconcile = async (kind: FluxKindName, informer: Informer<KubeObject>, namespace: string, name: string): Promise<void> => {
    const key = `${kind} ${namespace}/${name}`;
    if (busy.has(key) || stopped) return;
    const current = informer.get(namespace, name);
    const token = current === undefined ? undefined : tokenOf(current);
    if (current === undefined || token === undefined || token === handledOf(current)) return;
    busy.add(key);
    try {
      await new Promise((r) => setTimeout(r, options.reconcileMs));
      if (stopped) return;
      await kube.patch(fluxKind(kind), namespace, name, { type: "merge", body: { status: { lastHandledReconcileAt: token } } }, { subresource: "status" });
      handled.push(`${key} ${token}`);
    } catch {
      // deleted meanwhile, or stopping
    } finally {
      busy.delete(key);
    }
    await reconcile(kind, informer, namespace, name);
  };

  for (const kind of kinds) {
    const informer = createInformer<KubeObject>({ client: kube, type: fluxKind(kind) });
    const seen = (o: KubeObject) => void reconcile(kind, informer, o.metadata.namespace ?? "", o.metadata.name);
    informer.on({ add: seen, update: (_, o) => seen(o) });
    informers.push(informer.start());
  }
  return {
    handled,
    whenSynced: Promise.all(informers.map((i) => i.whenSynced)).then(() => {}),
    async stop() {
      stopped = true;
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
