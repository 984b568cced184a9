/**
 * Prometheus metrics of the Kubernetes client, registered once per registry (several clients and informers in one
 * process share them): requests by verb, resource and status code, their latency, retries, and watch restarts.
 */
import { Counter, Histogram } from "prom-client";
import type { Registry } from "prom-client";

export type KubeMetrics = {
  /** `code` is the HTTP status, or `error` (no response) / `timeout` (none in time). */
  requests: Counter<"verb" | "resource" | "code">;
  /** Per attempt, watches excluded (they are open for minutes by design). */
  duration: Histogram<"verb" | "resource">;
  /** `reason`: a `RetryCause` (TooManyRequests, ServerError, Conflict, Timeout, ConnectionError). */
  retries: Counter<"verb" | "resource" | "reason">;
  /**
   * `reason`: `closed` (the server ended the watch; resumed from the last resourceVersion), `timeout`, `error`
   * (resumed after back-off), `expired` (410 Gone: relisted).
   */
  watchRestarts: Counter<"resource" | "reason">;
};

const byRegistry = new WeakMap<Registry, KubeMetrics>();

/** client-go's `rest_client_request_duration_seconds` buckets. */
const BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];

/**
 * The client metrics in `registry`, created on first use.
 * @example kubeMetrics(createMetrics().registry).requests.inc({ verb: "patch", resource: "kustomizations.kustomize.toolkit.fluxcd.io", code: "200" })
 */
export function kubeMetrics(registry: Registry): KubeMetrics {
  const known = byRegistry.get(registry);
  if (known !== undefined) return known;
  const registers = [registry];
  const metrics: KubeMetrics = {
    requests: new Counter({
      name: "fluxgate_kube_requests_total",
      help: "Kubernetes API requests (each attempt), by verb, resource and HTTP status code.",
      labelNames: ["verb", "resource", "code"] as const,
      registers,
    }),
    duration: new Histogram({
      name: "fluxgate_kube_request_duration_seconds",
      help: "Kubernetes API request latency per attempt, watches excluded.",
      labelNames: ["verb", "resource"] as const,
      buckets: BUCKETS,
      registers,
    }),
    retries: new Counter({
      name: "fluxgate_kube_retries_total",
      help: "Kubernetes API requests retried, by the reason of the failed attempt.",
      labelNames: ["verb", "resource", "reason"] as const,
      registers,
    }),
    watchRestarts: new Counter({
      name: "fluxgate_kube_watch_restarts_total",
      help: "Informer watches restarted: closed, timeout or error resume from the last resourceVersion; expired relists.",
      labelNames: ["resource", "reason"] as const,
      registers,
    }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
