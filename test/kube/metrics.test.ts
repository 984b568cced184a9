import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { kubeMetrics } from "../../src/kube/metrics.ts";
import { parsePrometheusText } from "../support/prometheus-text.ts";

describe("Kubernetes client metrics", () => {
  it("registers the four families once per registry, so clients and informers share them", async () => {
    const registry = new Registry();
    const a = kubeMetrics(registry);
    assert.equal(kubeMetrics(registry), a);
    a.requests.inc({ verb: "patch", resource: "kustomizations.kustomize.toolkit.fluxcd.io", code: "200" });
    a.duration.observe({ verb: "patch", resource: "kustomizations.kustomize.toolkit.fluxcd.io" }, 0.02);
    a.retries.inc({ verb: "patch", resource: "kustomizations.kustomize.toolkit.fluxcd.io", reason: "TooManyRequests" });
    a.watchRestarts.inc({ resource: "kustomizations.kustomize.toolkit.fluxcd.io", reason: "expired" });
    const families = parsePrometheusText(await registry.metrics());
    assert.deepEqual([...families.values()].map((f) => [f.name, f.type]), [
      ["fluxgate_kube_requests_total", "counter"],
      ["fluxgate_kube_request_duration_seconds", "histogram"],
      ["fluxgate_kube_retries_total", "counter"],
      ["fluxgate_kube_watch_restarts_total", "counter"],
    ]);
    assert.deepEqual(families.get("fluxgate_kube_requests_total")?.samples, [
      { name: "fluxgate_kube_requests_total", labels: { verb: "patch", resource: "kustomizations.kustomize.toolkit.fluxcd.io", code: "200" }, value: 1 },
    ]);
    const buckets = families.get("fluxgate_kube_request_duration_seconds")?.samples.filter((s) => s.name.endsWith("_bucket")).map((s) => s.labels.le);
    assert.deepEqual(buckets, ["0.005", "0.025", "0.1", "0.25", "0.5", "1", "2", "4", "8", "15", "30", "60", "+Inf"]);
  });

  it("keeps registries apart", () => {
    assert.notEqual(kubeMetrics(new Registry()), kubeMetrics(new Registry()));
  });
});
