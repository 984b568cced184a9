/**
 * deploy/ as kubectl renders it: every overlay builds, every built-in and cert-manager object passes the Kubernetes
 * JSON schemas (kubernetes-models), and the settings the deploy issue asks for hold in each rendered workload.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Certificate, Issuer } from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { CronJob, Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, Service, ServiceAccount } from "kubernetes-models/v1";
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from "kubernetes-models/admissionregistration.k8s.io/v1";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1";
import { parseConfig } from "../../src/config/load.ts";
import { DEPLOY, NO_KUBECTL, OVERLAYS, find, idOf, render } from "./render.ts";
import type { Manifest } from "./render.ts";

/** The schema of each kind deploy/ renders; the emulator checks the Flux kinds against the Flux CRDs instead. */
const MODELS: Record<string, { validate(): void } & (new (data: never) => { validate(): void })> = {
  Namespace,
  ServiceAccount,
  ConfigMap,
  Service,
  Deployment,
  Job,
  CronJob,
  PodDisruptionBudget,
  NetworkPolicy,
  Role,
  RoleBinding,
  ClusterRole,
  ClusterRoleBinding,
  ValidatingWebhookConfiguration,
  MutatingWebhookConfiguration,
  CustomResourceDefinition,
  Issuer,
  Certificate,
} as never;

const BASE_IDS = [
  "Namespace/fluxgate-system",
  "CustomResourceDefinition/fluxgatepolicies.fluxgate.io",
  "ServiceAccount/fluxgate-system/fluxgate-admission",
  "ServiceAccount/fluxgate-system/fluxgate-receiver",
  "ServiceAccount/fluxgate-system/fluxgate-worker",
  "Role/fluxgate-system/fluxgate-worker-leader-election",
  "ClusterRole/fluxgate-admission",
  "ClusterRole/fluxgate-receiver",
  "ClusterRole/fluxgate-worker",
  "RoleBinding/fluxgate-system/fluxgate-worker-leader-election",
  "ClusterRoleBinding/fluxgate-admission",
  "ClusterRoleBinding/fluxgate-receiver",
  "ClusterRoleBinding/fluxgate-worker",
  "ConfigMap/fluxgate-system/fluxgate-config",
  "Service/fluxgate-system/fluxgate",
  "Service/fluxgate-system/fluxgate-receiver",
  "Service/fluxgate-system/fluxgate-worker",
  "Deployment/fluxgate-system/fluxgate-admission",
  "Deployment/fluxgate-system/fluxgate-receiver",
  "Deployment/fluxgate-system/fluxgate-worker",
  "PodDisruptionBudget/fluxgate-system/fluxgate-admission",
  "NetworkPolicy/fluxgate-system/fluxgate-admission",
  "NetworkPolicy/fluxgate-system/fluxgate-common",
  "NetworkPolicy/fluxgate-system/fluxgate-default-deny",
  "NetworkPolicy/fluxgate-system/fluxgate-receiver",
  "NetworkPolicy/fluxgate-system/fluxgate-worker",
  "MutatingWebhookConfiguration/fluxgate",
  "ValidatingWebhookConfiguration/fluxgate",
];

type Container = {
  name: string;
  image: string;
  args: string[];
  ports?: Array<{ name: string; containerPort: number }>;
  securityContext: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type PodSpec = {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes?: Array<Record<string, unknown> & { name: string }>;
  affinity?: unknown;
};

/** The pod template of a Deployment, Job or CronJob. */
function podSpec(m: Manifest): PodSpec {
  const spec = m["spec"] as Record<string, any>;
  return (m.kind === "CronJob" ? spec.jobTemplate.spec.template.spec : spec.template.spec) as PodSpec;
}

const workloads = (objects: Manifest[]) => objects.filter((m) => ["Deployment", "Job", "CronJob"].includes(m.kind));

describe("deploy/ rendered by kubectl kustomize", { skip: NO_KUBECTL }, () => {
  it("renders the base and every overlay to the objects each adds", async () => {
    assert.deepEqual((await render("base")).map(idOf), BASE_IDS);
    const certManager = (await render("overlays/cert-manager")).map(idOf);
    assert.deepEqual(
      certManager.filter((id) => !BASE_IDS.includes(id)),
      ["Certificate/fluxgate-system/fluxgate-ca", "Certificate/fluxgate-system/fluxgate-serving", "Issuer/fluxgate-system/fluxgate-ca", "Issuer/fluxgate-system/fluxgate-selfsigned"],
    );
    assert.deepEqual(BASE_IDS.filter((id) => !certManager.includes(id)), []);
    const selfSigned = (await render("overlays/self-signed")).map(idOf);
    assert.deepEqual(
      selfSigned.filter((id) => !BASE_IDS.includes(id)),
      [
        "ServiceAccount/fluxgate-system/fluxgate-certs",
        "Role/fluxgate-system/fluxgate-certs",
        "ClusterRole/fluxgate-certs",
        "RoleBinding/fluxgate-system/fluxgate-certs",
        "ClusterRoleBinding/fluxgate-certs",
        "CronJob/fluxgate-system/fluxgate-certs",
        "Job/fluxgate-system/fluxgate-certs",
      ],
    );
    assert.deepEqual((await render("overlays/nats")).map(idOf), ["Namespace/nats", "HelmRelease/nats/nats", "HelmRepository/nats/nats"]);
  });

  it("passes the Kubernetes and cert-manager schemas with every built-in and cert-manager object", async () => {
    for (const overlay of OVERLAYS) {
      for (const m of await render(overlay)) {
        if (m.apiVersion.includes("fluxcd.io")) continue; // applied to the emulator with the Flux CRDs (apply.test.ts)
        const Model = MODELS[m.kind];
        assert.ok(Model !== undefined, `${overlay}: no schema for ${idOf(m)}`);
        assert.doesNotThrow(() => new Model(m as never).validate(), `${overlay}: ${idOf(m)}`);
      }
    }
  });

  it("labels every object as part of fluxgate", async () => {
    for (const overlay of OVERLAYS) {
      for (const m of await render(overlay)) assert.equal(m.metadata.labels?.["app.kubernetes.io/part-of"], "fluxgate", `${overlay}: ${idOf(m)}`);
    }
  });

  it("runs every container non-root, read-only, without privilege escalation or capabilities, on the image", async () => {
    for (const overlay of ["overlays/cert-manager", "overlays/self-signed"]) {
      for (const w of workloads(await render(overlay))) {
        const pod = podSpec(w);
        assert.deepEqual(
          { runAsNonRoot: pod.securityContext["runAsNonRoot"], runAsUser: pod.securityContext["runAsUser"], seccompProfile: pod.securityContext["seccompProfile"] },
          { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
          idOf(w),
        );
        for (const c of pod.containers) {
          assert.deepEqual(c.securityContext, { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } }, `${idOf(w)} ${c.name}`);
          assert.equal(c.image, "ghcr.io/fluxgate/fluxgate:0.1.0", `${idOf(w)} ${c.name}`);
          // A read-only root needs somewhere to write: /tmp is an emptyDir.
          assert.ok(c.volumeMounts?.some((v) => v.mountPath === "/tmp" && pod.volumes?.some((vol) => vol.name === v.name && "emptyDir" in vol)), `${idOf(w)}: /tmp is an emptyDir`);
        }
      }
    }
  });

  it("runs one role per Deployment, each as its own ServiceAccount, from the shared ConfigMap", async () => {
    const objects = await render("base");
    for (const role of ["admission", "receiver", "worker"]) {
      const pod = podSpec(find(objects, "Deployment", `fluxgate-${role}`));
      assert.equal(pod.serviceAccountName, `fluxgate-${role}`);
      assert.deepEqual(pod.containers[0]?.args, ["serve", "--config", "/etc/fluxgate/config/config.yaml", "--roles", role]);
      // A directory mount, not subPath: ConfigMap updates reach the file and are hot-reloaded.
      assert.deepEqual(pod.containers[0]?.volumeMounts?.find((v) => v.name === "config"), { name: "config", mountPath: "/etc/fluxgate/config", readOnly: true });
      assert.deepEqual(pod.volumes?.find((v) => v.name === "config"), { name: "config", configMap: { name: "fluxgate-config" } });
    }
  });

  it("keeps the admission gate available: 2 replicas spread over nodes, a PDB and no unavailable replica while rolling", async () => {
    const objects = await render("base");
    const gate = find(objects, "Deployment", "fluxgate-admission");
    const spec = gate["spec"] as Record<string, any>;
    assert.equal(spec.replicas, 2);
    assert.deepEqual(spec.strategy, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const labels = { "app.kubernetes.io/name": "fluxgate", "app.kubernetes.io/component": "admission" };
    assert.deepEqual(spec.template.metadata.labels, labels);
    assert.deepEqual(spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution, [
      { weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: labels } } },
    ]);
    assert.deepEqual(find(objects, "PodDisruptionBudget", "fluxgate-admission")["spec"], { minAvailable: 1, selector: { matchLabels: labels } });
    // The serving certificate may come after the Pod: the volume is optional and only the gate mounts it.
    assert.deepEqual(spec.template.spec.volumes.find((v: { name: string }) => v.name === "tls"), { name: "tls", secret: { secretName: "fluxgate-serving", optional: true, defaultMode: 0o440 } });
  });

  it("gives every Service a selector that matches its Deployment's Pods and target ports they declare", async () => {
    const objects = await render("base");
    const pairs = [
      ["fluxgate", "fluxgate-admission", [["https", 443, "webhook", 9443], ["http-metrics", 8080, "metrics", 8080]]],
      ["fluxgate-receiver", "fluxgate-receiver", [["http", 80, "http", 9292], ["http-metrics", 8080, "metrics", 8080]]],
      ["fluxgate-worker", "fluxgate-worker", [["http-metrics", 8080, "metrics", 8080]]],
    ] as const;
    for (const [service, deployment, ports] of pairs) {
      const svc = find(objects, "Service", service)["spec"] as { selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: string }> };
      const pod = find(objects, "Deployment", deployment)["spec"] as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
      assert.deepEqual(svc.selector, pod.template.metadata.labels, service);
      const declared = pod.template.spec.containers[0]?.ports ?? [];
      assert.deepEqual(
        svc.ports.map((p) => [p.name, p.port, p.targetPort, declared.find((d) => d.name === p.targetPort)?.containerPort]),
        ports.map((p) => [...p]),
        service,
      );
    }
  });

  it("ships a configuration every role accepts: the Secret's pair, a 5 s shutdown delay, NATS, the cluster required", async () => {
    const cm = find(await render("base"), "ConfigMap", "fluxgate-config") as Manifest & { data: Record<string, string> };
    const config = parseConfig(cm.data["config.yaml"] ?? "", "deploy/base/config.yaml");
    assert.deepEqual(
      { certFile: config.tls.certFile, keyFile: config.tls.keyFile, shutdownDelay: config.http.shutdownDelay, bus: config.bus.url, kube: config.kube.mode },
      { certFile: "/etc/fluxgate/tls/tls.crt", keyFile: "/etc/fluxgate/tls/tls.key", shutdownDelay: 5000, bus: "nats://nats.nats.svc:4222", kube: "on" },
    );
    assert.ok(config.policy.exemptions.serviceAccounts.includes("fluxgate-system:fluxgate-worker"));
    assert.deepEqual(config.policy.exemptions.namespaces, ["kube-system", "kube-node-lease", "flux-system", "fluxgate-system"]);
  });

  it("serves the certificate from cert-manager and injects its CA into both webhook configurations", async () => {
    const objects = await render("overlays/cert-manager");
    for (const kind of ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]) {
      assert.deepEqual(find(objects, kind, "fluxgate").metadata.annotations, { "cert-manager.io/inject-ca-from": "fluxgate-system/fluxgate-serving" });
    }
    const serving = find(objects, "Certificate", "fluxgate-serving")["spec"] as Record<string, any>;
    assert.equal(serving.secretName, "fluxgate-serving");
    assert.deepEqual(serving.dnsNames, ["fluxgate.fluxgate-system.svc", "fluxgate.fluxgate-system.svc.cluster.local"]);
    assert.deepEqual(serving.issuerRef, { kind: "Issuer", name: "fluxgate-ca" });
    assert.equal((find(objects, "Certificate", "fluxgate-ca")["spec"] as Record<string, any>).isCA, true);
  });

  it("issues and rotates the self-signed certificate with fluxgate certs, at install and daily", async () => {
    const objects = await render("overlays/self-signed");
    const args = ["certs", "--dir", "/tmp/certs", "--namespace", "fluxgate-system", "--secret", "fluxgate-serving", "--patch-webhooks", "fluxgate"];
    for (const kind of ["Job", "CronJob"]) {
      const pod = podSpec(find(objects, kind, "fluxgate-certs"));
      assert.equal(pod.serviceAccountName, "fluxgate-certs");
      assert.deepEqual(pod.containers[0]?.args, args, kind);
    }
    assert.equal((find(objects, "CronJob", "fluxgate-certs")["spec"] as Record<string, unknown>)["concurrencyPolicy"], "Forbid");
    assert.deepEqual(find(objects, "Role", "fluxgate-certs")["rules"], [
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
      { apiGroups: [""], resources: ["secrets"], resourceNames: ["fluxgate-serving", "fluxgate-serving-ca"], verbs: ["get", "update"] },
    ]);
    assert.deepEqual(find(objects, "ClusterRole", "fluxgate-certs")["rules"], [
      { apiGroups: ["admissionregistration.k8s.io"], resources: ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"], resourceNames: ["fluxgate"], verbs: ["get", "update"] },
    ]);
    for (const kind of ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]) assert.equal(find(objects, kind, "fluxgate").metadata.annotations, undefined);
  });

  it("installs NATS with JetStream on persistent storage through a HelmRelease of the official chart", async () => {
    const objects = await render("overlays/nats");
    assert.deepEqual(find(objects, "HelmRepository", "nats")["spec"], { interval: "24h", url: "https://nats-io.github.io/k8s/helm/charts/" });
    const release = find(objects, "HelmRelease", "nats")["spec"] as Record<string, any>;
    assert.deepEqual(release.chart.spec, { chart: "nats", version: "1.x", sourceRef: { kind: "HelmRepository", name: "nats" }, interval: "24h" });
    assert.equal(release.releaseName, "nats");
    assert.deepEqual(release.values.config.jetstream, { enabled: true, fileStore: { enabled: true, pvc: { enabled: true, size: "10Gi" } }, memoryStore: { enabled: false } });
  });

  it("denies all traffic but what each role needs", async () => {
    const objects = await render("base");
    assert.deepEqual(find(objects, "NetworkPolicy", "fluxgate-default-deny")["spec"], { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    assert.deepEqual((find(objects, "NetworkPolicy", "fluxgate-admission")["spec"] as Record<string, unknown>)["ingress"], [{ ports: [{ port: "webhook", protocol: "TCP" }] }]);
    for (const role of ["receiver", "worker"]) {
      assert.deepEqual((find(objects, "NetworkPolicy", `fluxgate-${role}`)["spec"] as Record<string, unknown>)["egress"], [
        { to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "nats" } } }], ports: [{ port: 4222, protocol: "TCP" }] },
      ]);
    }
  });
});

describe("deploy/Containerfile", () => {
  const text = readFileSync(join(DEPLOY, "Containerfile"), "utf8");

  it("builds on oven/bun with production dependencies from the lock file and runs fluxgate serve as non-root", () => {
    assert.match(text, /^FROM docker\.io\/oven\/bun:\$\{BUN_VERSION\}-distroless$/m);
    assert.match(text, /^RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund$/m);
    assert.match(text, /^USER 65532:65532$/m);
    assert.match(text, /^ENTRYPOINT \["bun", "bin\/fluxgate\.ts"\]$/m);
    assert.match(text, /^CMD \["serve", "--config", "\/etc\/fluxgate\/config\.yaml"\]$/m);
  });
});

describe("deploy/grafana/fluxgate.json", () => {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, "grafana", "fluxgate.json"), "utf8")) as { uid: string; panels: Array<{ id: number; type: string; title: string; targets?: Array<{ expr: string }> }> };
  const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\bfluxgate_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ""))));

  it("queries only metrics Fluxgate registers", () => {
    const registered = new Set<string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith(".ts")) for (const m of readFileSync(path, "utf8").matchAll(/name: "(fluxgate_[a-z_]+)"/g)) registered.add(m[1]!);
      }
    };
    walk(join(DEPLOY, "..", "src"));
    assert.deepEqual([...used].filter((m) => !registered.has(m)), []);
  });

  it("has panels for latency, deliveries, admission decisions, kube requests and retries, the bus, TLS expiry and build info", () => {
    const wanted = [
      "fluxgate_http_request_duration_seconds",
      "fluxgate_receiver_deliveries_total",
      "fluxgate_admission_requests_total",
      "fluxgate_kube_requests_total",
      "fluxgate_kube_retries_total",
      "fluxgate_receiver_publish_duration_seconds",
      "fluxgate_worker_events_routed_total",
      "fluxgate_tls_certificate_expiry_timestamp_seconds",
      "fluxgate_build_info",
    ];
    assert.deepEqual(wanted.filter((m) => !used.has(m)), []);
    assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, "panel ids are unique");
    assert.equal(dashboard.uid, "fluxgate");
  });
});
