/**
 * Prometheus metrics of deployment windows, registered once per registry: whether each window is active (per tenant
 * it names), when each next starts or ends, break-glass uses and freeze actions. The gauges are computed at scrape
 * time from the current policy, so a configuration reload shows at the next scrape.
 */
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import { windowActivity } from "./windows.ts";
import type { WindowPolicy } from "./windows.ts";

export type WindowMetrics = {
  /** `window`: the closed windows, comma-separated; `tenant`: the object's tenant or empty. Dry runs are not counted. */
  breakGlassUses: Counter<"window" | "tenant">;
  /** `action`: `suspend` or `resume`, by the freeze controller; `window`: the window whose freeze it was. */
  freezeActions: Counter<"action" | "window">;
  /** Where the gauges read the policy and the time; the last call wins. */
  observe(source: { policy: () => WindowPolicy; now?: () => Date }): void;
};

const byRegistry = new WeakMap<Registry, WindowMetrics>();

/**
 * The window metrics in `registry`, created on first use:
 * - `fluxgate_window_active{window,kind,tenant}`: 1 while the window is active (an allow window lets changes
 *   through, a deny window holds them), else 0; one series per tenant the window names, `tenant=""` when it names none;
 * - `fluxgate_window_next_transition_timestamp_seconds{window}`: when it next starts or ends (absent: not within a year);
 * - `fluxgate_window_break_glass_total{window,tenant}`;
 * - `fluxgate_window_freeze_actions_total{action,window}`.
 * @example windowMetrics(registry).observe({ policy: () => config.current().policy })
 */
export function windowMetrics(registry: Registry): WindowMetrics {
  const known = byRegistry.get(registry);
  if (known !== undefined) return known;
  let source: { policy: () => WindowPolicy; now: () => Date } | undefined;
  const registers = [registry];
  new Gauge({
    name: "fluxgate_window_active",
    help: "1 while the deployment window is active (allow: changes may go; deny: changes are held), else 0; per tenant the window names.",
    labelNames: ["window", "kind", "tenant"] as const,
    registers,
    collect() {
      this.reset();
      if (source === undefined) return;
      const at = source.now();
      for (const w of source.policy().windows) {
        const value = windowActivity(w, at).active ? 1 : 0;
        for (const tenant of w.match?.tenants ?? [""]) this.set({ window: w.name, kind: w.kind, tenant }, value);
      }
    },
  });
  new Gauge({
    name: "fluxgate_window_next_transition_timestamp_seconds",
    help: "When the deployment window next starts or ends, as a Unix timestamp; absent when not within a year.",
    labelNames: ["window"] as const,
    registers,
    collect() {
      this.reset();
      if (source === undefined) return;
      const at = source.now();
      for (const w of source.policy().windows) {
        const next = windowActivity(w, at).changesAt;
        if (next !== undefined) this.set({ window: w.name }, next.getTime() / 1000);
      }
    },
  });
  const metrics: WindowMetrics = {
    breakGlassUses: new Counter({
      name: "fluxgate_window_break_glass_total",
      help: "Changes let through by break-glass while a deployment window was closed (dry runs not counted).",
      labelNames: ["window", "tenant"] as const,
      registers,
    }),
    freezeActions: new Counter({
      name: "fluxgate_window_freeze_actions_total",
      help: "Kustomizations and HelmReleases suspended at the start of a freeze and resumed at its end.",
      labelNames: ["action", "window"] as const,
      registers,
    }),
    observe(s) {
      source = { policy: s.policy, now: s.now ?? (() => new Date()) };
    },
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
