/**
 * The labels of the cluster's namespaces, for tenants that own namespaces by label (`namespaceSelector`): an
 * AdmissionReview names the namespace only. Watched; a namespace the watch has not delivered yet (created a moment
 * ago) is read once from the API server before the request is judged, so a fresh namespace is never judged as
 * nobody's. Labels include `kubernetes.io/metadata.name`, which the API server sets on every namespace.
 */
import type { Logger } from "../observability/logger.ts";
import { isKubeNotFound } from "../errors.ts";
import type { KubeClient } from "./client.ts";
import { createInformer } from "./informer.ts";
import type { ResourceType } from "./resource.ts";

export const NAMESPACES: ResourceType = { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false };

export type NamespaceLabelSource = {
  /** The namespace's labels; undefined when not known (yet) or it does not exist. */
  labels(namespace: string): Record<string, string> | undefined;
  /**
   * Makes `labels(namespace)` answer: from the watch, else read from the API server.
   * @throws when the API server cannot be asked (the request must not be judged without them)
   */
  ensure(namespace: string): Promise<void>;
  whenSynced: Promise<void>;
  synced(): boolean;
  stop(): Promise<void>;
};

const withName = (name: string, labels: Record<string, string> | undefined) => ({ ...labels, "kubernetes.io/metadata.name": name });

/**
 * Starts watching namespaces.
 * @example const namespaces = watchNamespaceLabels({ client, log }); evaluate(input, policy, phase, { namespaceLabels: namespaces.labels })
 */
export function watchNamespaceLabels(options: { client: KubeClient; log: Logger }): NamespaceLabelSource {
  const informer = createInformer({ client: options.client, type: NAMESPACES }).start();
  /** Namespaces read directly, before the watch delivered them. */
  const read = new Map<string, Record<string, string>>();
  const labels = (namespace: string) => {
    const o = informer.get(undefined, namespace);
    if (o !== undefined) return withName(namespace, o.metadata.labels);
    return read.get(namespace);
  };
  informer.on({ add: (o) => read.delete(o.metadata.name), delete: (o) => read.delete(o.metadata.name) });
  return {
    labels,
    async ensure(namespace) {
      if (labels(namespace) !== undefined || namespace === "") return;
      try {
        const o = await options.client.get(NAMESPACES, undefined, namespace);
        if (informer.get(undefined, namespace) === undefined) read.set(namespace, withName(namespace, o.metadata.labels));
      } catch (e) {
        if (isKubeNotFound(e)) return; // no such namespace (yet): nobody's labels to match
        options.log.warn({ err: e, namespace }, "cannot read the namespace's labels");
        throw e;
      }
    },
    whenSynced: informer.whenSynced,
    synced: () => informer.synced(),
    stop: () => informer.stop(),
  };
}

/** A fixed set (namespaces from manifests, `fluxgate check`). */
export function staticNamespaceLabels(namespaces: ReadonlyMap<string, Record<string, string> | undefined>): NamespaceLabelSource {
  return {
    labels: (ns) => (namespaces.has(ns) ? withName(ns, namespaces.get(ns)) : undefined),
    ensure: () => Promise.resolve(),
    whenSynced: Promise.resolve(),
    synced: () => true,
    stop: () => Promise.resolve(),
  };
}
