/**
 * The Prometheus registry every part of Fluxgate registers its metrics in: default process metrics plus
 * `fluxgate_build_info` (version, revision, runtime), the usual way to see what is deployed.
 */
import { Registry, Gauge, collectDefaultMetrics } from "prom-client";
import { REVISION, VERSION, runtime } from "../version.ts";

export type Metrics = { registry: Registry };

/**
 * The per-heap-space gauges: on Bun, `v8.getHeapSpaceStatistics` walks the whole heap, 30–75 ms of a blocked event
 * loop per scrape for a worker's heap (Node and Deno: under 5 ms). Bun's `process_heap_bytes` and
 * `nodejs_heap_size_*_bytes` remain.
 */
const HEAP_SPACE_METRICS = ["nodejs_heap_space_size_total_bytes", "nodejs_heap_space_size_used_bytes", "nodejs_heap_space_size_available_bytes"];

/**
 * A new registry with the process metrics and build info. One per process (tests make one per server).
 * @example const { registry } = createMetrics(); await registry.metrics()
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const rt = runtime();
  if (rt.name === "bun") for (const name of HEAP_SPACE_METRICS) registry.removeSingleMetric(name);
  const info = new Gauge({
    name: "fluxgate_build_info",
    help: "Fluxgate build information; the value is always 1.",
    labelNames: ["version", "revision", "runtime", "runtime_version"] as const,
    registers: [registry],
  });
  info.set({ version: VERSION, revision: REVISION, runtime: rt.name, runtime_version: rt.version }, 1);
  return { registry };
}
