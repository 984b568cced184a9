/**
 * Receivers from the cluster's Flux `Receiver` objects (notification.toolkit.fluxcd.io/v1): watched, with their
 * Secrets read, and served at the same path notification-controller gives them (`status.webhookPath`), so a
 * cluster's Receivers work through Fluxgate as they are. Secrets are re-read periodically, which picks up token
 * rotation (the path then changes, as in Flux).
 */
import type { Logger } from "pino";
import { z } from "zod";
import { fluxKind } from "../flux/kinds.ts";
import type { KubeClient } from "../kube/client.ts";
import { createInformer } from "../kube/informer.ts";
import type { Informer } from "../kube/informer.ts";
import type { KubeObject } from "../kube/object.ts";
import type { ResourceType } from "../kube/resource.ts";
import type { Receiver } from "./receiver-index.ts";
import { providersFor, receiverEntry } from "./receiver-index.ts";

const SECRETS: ResourceType = { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true };

/** The parts of a Flux Receiver that decide how its deliveries are authenticated and filtered. */
const fluxReceiver = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string() }),
  spec: z.looseObject({
    type: z.string(),
    events: z.array(z.string()).optional(),
    secretRef: z.object({ name: z.string() }).optional(),
    suspend: z.boolean().optional(),
  }),
});
type FluxReceiver = z.output<typeof fluxReceiver> & KubeObject;

const secretSchema = z.looseObject({ data: z.record(z.string(), z.string()).optional() });

/**
 * The receiver a Flux `Receiver` object gives, with its Secret's decoded data (or why it could not be read), or why
 * it cannot be served. Shared by the cluster watch and the manifests of `serve --manifests`.
 * @example fluxReceiverEntry(receiver, { token: "s3cr3t" }, "cluster") // { path: "/hook/…", … }
 */
export function fluxReceiverEntry(object: unknown, secret: Record<string, string> | string | undefined, source: Receiver["source"]): Receiver | string {
  const parsed = fluxReceiver.safeParse(object);
  if (!parsed.success) return `not a Flux Receiver: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
  const r = parsed.data;
  if (providersFor(r.spec.type).length === 0) return `type ${r.spec.type} is not supported`;
  if (r.spec.secretRef === undefined) return "spec.secretRef is not set";
  if (typeof secret === "string") return secret;
  if (secret === undefined) return `Secret ${r.metadata.namespace}/${r.spec.secretRef.name} not found`;
  if (secret.token === undefined) return `Secret ${r.metadata.namespace}/${r.spec.secretRef.name} has no "token" key`;
  return receiverEntry({
    name: r.metadata.name,
    namespace: r.metadata.namespace,
    type: r.spec.type,
    secret,
    events: r.spec.events ?? [],
    refs: [],
    deletions: false,
    suspend: r.spec.suspend === true,
    source,
  });
}

export type ClusterReceivers = {
  /** Receivers built from the cluster, by path. */
  all(): readonly Receiver[];
  synced(): boolean;
  whenSynced: Promise<void>;
  stop(): Promise<void>;
};

export type ClusterReceiversOptions = {
  client: KubeClient;
  log: Logger;
  /** Called after every rebuild, so the route serves the new set. */
  onChange: () => void;
  /** How often Secrets are read again. Default 60 s. */
  secretRefreshMs?: number;
};

/** Starts watching Receivers; resolves `whenSynced` after the first list and Secret reads. */
export function watchClusterReceivers(options: ClusterReceiversOptions): ClusterReceivers {
  const { client, log } = options;
  const informer: Informer<FluxReceiver> = createInformer<FluxReceiver>({ client, type: fluxKind("Receiver"), schema: fluxReceiver as unknown as z.ZodType<FluxReceiver> });
  let current: Receiver[] = [];
  let built = false;
  let stopped = false;
  let rebuilding: Promise<void> | undefined;
  let again = false;
  const problems = new Map<string, string>();

  const secretOf = async (namespace: string, name: string): Promise<Record<string, string> | string> => {
    try {
      const s = secretSchema.parse(await client.get(SECRETS, namespace, name));
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    } catch (e) {
      return `cannot read Secret ${namespace}/${name}: ${(e as Error).message}`;
    }
  };

  const build = async (): Promise<void> => {
    const next: Receiver[] = [];
    for (const r of informer.list()) {
      const id = `${r.metadata.namespace}/${r.metadata.name}`;
      const ref = r.spec.secretRef;
      const entry = fluxReceiverEntry(r, ref === undefined ? undefined : await secretOf(r.metadata.namespace, ref.name), "cluster");
      if (typeof entry === "string") {
        if (problems.get(id) !== entry) log.warn({ receiver: id, reason: entry }, "Flux Receiver not served");
        problems.set(id, entry);
        continue;
      }
      problems.delete(id);
      next.push(entry);
    }
    current = next;
    built = true;
    options.onChange();
  };
  const rebuild = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (rebuilding !== undefined) {
      again = true;
      return rebuilding;
    }
    rebuilding = build()
      .catch((e: unknown) => log.error({ err: e }, "cluster receivers not rebuilt"))
      .finally(() => {
        rebuilding = undefined;
        if (again) {
          again = false;
          void rebuild();
        }
      });
    return rebuilding;
  };

  informer.on({ add: () => void rebuild(), update: () => void rebuild(), delete: () => void rebuild() });
  informer.start();
  const whenSynced = informer.whenSynced.then(() => rebuild());
  const timer = setInterval(() => void rebuild(), options.secretRefreshMs ?? 60_000);
  timer.unref?.();

  return {
    all: () => current,
    synced: () => built && informer.synced(),
    whenSynced,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await informer.stop();
      await rebuilding;
    },
  };
}
