/**
 * The configuration file's schema. Every key has a default that makes `fluxgate serve` work with no file (the
 * embedded mode); unknown keys are errors. Durations are Go-style strings, sizes Kubernetes quantities, listen
 * addresses Flux-style `[host]:port` (`:9443` = every interface).
 */
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { parseQuantity } from "./quantity.ts";
import { receiverConfig } from "../webhooks/receiver-config.ts";
import { policySchema } from "../policy/tenancy.ts";

export const ROLES = ["admission", "receiver", "worker"] as const;
export type Role = (typeof ROLES)[number];

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export type ListenAddress = { host: string; port: number };

/** `":9443"`, `"127.0.0.1:9443"`, `"[::1]:9443"`, `"localhost:0"` (0 = any free port, for tests). */
export const listenAddress = z.string({ error: 'expected an address string like ":9443" or "127.0.0.1:9443"' }).transform((text, ctx): ListenAddress => {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) {
    ctx.addIssue({ code: "custom", message: `expected an address like ":9443" or "127.0.0.1:9443", got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  const host = m[1] ?? m[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
});

/** A Go-style duration string, parsed to milliseconds. */
export const duration = z.string({ error: 'expected a duration string like "30s" or "1m30s"' }).transform((text, ctx): number => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a duration like "30s", "1m30s" or "500ms", got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  return ms;
});

/** A byte size (`3Mi`, `512Ki`, `1048576`), parsed to bytes. */
export const byteSize = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx): number => {
  const bytes = typeof v === "number" ? v : parseQuantity(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a size like "3Mi", "512Ki" or a number of bytes, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return bytes;
});

const listenSchema = z.strictObject({
  /** Admission webhook, always HTTPS (controller-runtime's 9443). */
  admission: listenAddress.prefault(":9443"),
  /** Git/registry webhook receiver (Flux notification-controller's 9292). */
  receiver: listenAddress.prefault(":9292"),
  /** Prometheus `/metrics` (Flux controllers' 8080). */
  metrics: listenAddress.prefault(":8080"),
  /** `/healthz` and `/readyz` (Flux controllers' 9440). */
  health: listenAddress.prefault(":9440"),
});

const tlsSchema = z
  .strictObject({
    /** PEM serving certificate and key (e.g. a mounted `kubernetes.io/tls` Secret); reloaded when they change. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Without certFile/keyFile: where a self-signed CA and serving certificate are created and rotated. */
    dir: z.string().min(1).default(".fluxgate/certs"),
    /** Webhook Service name and namespace: the generated certificate's SANs (`<svc>.<ns>.svc` …). */
    service: z.string().min(1).default("fluxgate"),
    namespace: z.string().min(1).default("fluxgate-system"),
    /** Extra SANs for the generated certificate (the embedded mode is called on localhost). */
    dnsNames: z.array(z.string().min(1)).default(["localhost"]),
    ipAddresses: z.array(z.string().min(1)).default(["127.0.0.1", "::1"]),
    /** How often the certificate files are checked besides file-change events, which can be missed. */
    reloadInterval: duration.prefault("10s"),
    /** Serve the receiver over HTTPS with the same certificate too (usually TLS ends at the Ingress). */
    receiver: z.boolean().default(false),
  })
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: "set both certFile and keyFile, or neither (then a certificate is generated in tls.dir)",
  });

const httpSchema = z.strictObject({
  /** Largest request body accepted; kube-apiserver's own limit is 3 MiB. */
  bodyLimit: byteSize.prefault("3Mi"),
  /** Longest a request may take before it is answered 503. */
  requestTimeout: duration.prefault("30s"),
  /**
   * On SIGTERM: how long to keep serving while reporting not ready, so the Service endpoints (and the apiserver's
   * webhook calls) move to other replicas before this one stops accepting. `5s` in deploy/.
   */
  shutdownDelay: duration.prefault("0s"),
  /** On SIGTERM, after the delay: how long in-flight requests may take before connections are closed. */
  shutdownTimeout: duration.prefault("30s"),
});

const positiveInt = (what: string) => z.number({ error: `expected a whole number of ${what}` }).int({ error: `expected a whole number of ${what}` }).min(1);

const workerSchema = z.strictObject({
  /** Most events routed in one batch; a burst routed in big batches stores one trigger per object per batch. */
  routeBatch: positiveInt("events").default(512),
  /** Triggers decided and patched at once. */
  applyConcurrency: positiveInt("triggers").default(16),
  /** Longest single hold of a trigger for a closed window before it is checked again (the window may have changed). */
  maxHold: duration.prefault("15m"),
  /** How long Fluxgate's unhandled reconcile request holds newer triggers back before it asks again anyway. */
  pendingTimeout: duration.prefault("10m"),
  /** How often the inventory's caches are replayed (informer resync). */
  resync: duration.prefault("10m"),
});

const logSchema = z.strictObject({
  level: z.enum(LOG_LEVELS).default("info"),
});

const busSchema = z.strictObject({
  /** NATS server URL(s), e.g. `nats://nats.nats:4222`. Unset: the in-process bus of the embedded mode. */
  url: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Connection name shown by NATS monitoring. */
  name: z.string().min(1).default("fluxgate"),
});

const kubeSchema = z.strictObject({
  /**
   * `auto`: use the cluster of `KUBECONFIG`, the in-cluster service account or ~/.kube/config when there is one;
   * `on`: require one; `off`: never (receivers from the file only).
   */
  mode: z.enum(["auto", "on", "off"]).default("auto"),
  /** A kubeconfig file instead of the usual lookup. */
  kubeconfig: z.string().min(1).optional(),
  /** A context of the kubeconfig other than its current one. */
  context: z.string().min(1).optional(),
});

export const configSchema = z.strictObject({
  /** Which roles this process runs; all three by default (the embedded mode). */
  roles: z
    .array(z.enum(ROLES))
    .min(1)
    .default([...ROLES])
    .refine((r) => new Set(r).size === r.length, { message: "roles must not repeat" }),
  listen: listenSchema.prefault({}),
  tls: tlsSchema.prefault({}),
  http: httpSchema.prefault({}),
  log: logSchema.prefault({}),
  bus: busSchema.prefault({}),
  /** The Kubernetes API: Flux Receiver objects (and later the inventory of Flux objects) come from there. */
  kube: kubeSchema.prefault({}),
  /** The apply worker's settings (restart). */
  worker: workerSchema.prefault({}),
  /** Webhook receivers served on the receiver listener (more come from the cluster's Flux `Receiver` objects). */
  receivers: z
    .array(receiverConfig)
    .default([])
    .refine((rs) => new Set(rs.map((r) => `${r.namespace}/${r.name}`)).size === rs.length, { message: "two receivers have the same namespace and name" }),
  /** Multi-tenancy policy the admission webhook enforces (tenants, exemptions, rule modes); empty: nothing is judged. */
  policy: policySchema.prefault({}),
});

/** The parsed configuration: durations in ms, sizes in bytes, addresses split. */
export type Config = z.output<typeof configSchema>;
/** What a user writes in the file. */
export type ConfigInput = z.input<typeof configSchema>;
