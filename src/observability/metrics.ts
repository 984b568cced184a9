/**
 * The Prometheus registry every part of Fluxgate registers its metrics in: default process metrics plus
 * `fluxgate_build_info` (version, revision, runtime), the usual way to see what is deployed.
 */
import { Registry, Gauge, collectDefaultMetrics } from "prom-client";
import { REVISION, VERSION, runtime } from "../version.ts";

export type Metrics = { registry: Registry };

/**
 * A new registry with the process metrics and build info. One per process (tests make one per server).
 * @example const { registry } = createMetrics(); await registry.metrics()
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const rt = runtime();
  const info = new Gauge({
    name: "fluxgate_build_info",
    help: "Fluxgate build information; the value is always 1.",
    labelNames: ["version", "revision", "runtime", "runtime_version"] as const,
    registers: [registry],
  });
  info.set({ version: VERSION, revision: REVISION, runtime: rt.name, runtime_version: rt.version }, 1);
  return { registry };
}
