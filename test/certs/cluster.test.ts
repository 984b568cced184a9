/**
 * `fluxgate certs --secret … --patch-webhooks …` against the API emulator, as the self-signed overlay's Job runs it:
 * the Secrets are created once and kept, the caBundle lands in every webhook, a replaced CA stays trusted, and the
 * result really works: the emulator calls a webhook serving the Secret's pair and trusts it through the caBundle.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PREVIOUS_CA_KEY } from "../../certs/cluster.ts";
import { describeCert, issueCa } from "../../certs/issue.ts";
import { caBundle } from "../../certs/store.ts";
import { certsCommand } from "../../src/cli/certs.ts";
import type { Io, ParsedArgs } from "../../src/cli/command.ts";
import { UsageError } from "../../src/errors.ts";
import { enableAdmission } from "../support/kube/admission-wiring.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";

const NS = "fluxgate-system";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

describe("fluxgate certs in a cluster", () => {
  let kube: KubeEmulator;
  let root: string;
  let kubeconfig: string;
  let runs = 0;

  /** One run in a fresh directory, as each Job Pod starts with an empty emptyDir. */
  async function certs(...extra: string[]): Promise<{ code: number; out: string; err: string }> {
    const argv = ["--dir", join(root, `run-${++runs}`), "--namespace", NS, "--kubeconfig", kubeconfig, ...extra];
    const { values } = parseArgs({ args: argv, options: certsCommand.options, strict: true, allowPositionals: false });
    let out = "";
    let err = "";
    const io: Io = { out: (t) => (out += t), err: (t) => (err += t), env: {}, cwd: root };
    const code = await certsCommand.run({ values: values as ParsedArgs["values"], positionals: [] }, io);
    return { code, out, err };
  }
  const get = async (path: string) => (await (await fetch(`${kube.url}${path}`)).json()) as Record<string, any>;
  const secret = async (name: string) => {
    const s = await get(`/api/v1/namespaces/${NS}/secrets/${name}`);
    return { type: s["type"] as string, resourceVersion: s["metadata"]["resourceVersion"] as string, data: Object.fromEntries(Object.entries(s["data"] as Record<string, string>).map(([k, v]) => [k, unb64(v)])) };
  };
  const bundles = async () => {
    const out: string[] = [];
    for (const kind of ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]) {
      for (const w of (await get(`/apis/admissionregistration.k8s.io/v1/${kind}/fluxgate`))["webhooks"] as Array<{ clientConfig: { caBundle?: string } }>) out.push(w.clientConfig.caBundle ?? "");
    }
    return out;
  };
  const webhook = (name: string, path: string) => ({
    name,
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    failurePolicy: "Fail",
    timeoutSeconds: 5,
    clientConfig: { service: { namespace: NS, name: "fluxgate", path } },
    rules: [{ apiGroups: ["kustomize.toolkit.fluxcd.io"], apiVersions: ["*"], operations: ["CREATE"], resources: ["kustomizations"] }],
  });

  before(async () => {
    kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
    kubeconfig = await kube.kubeconfigPath();
    root = await mkdtemp(join(tmpdir(), "fluxgate-certs-cluster-"));
    const post = async (path: string, body: unknown) => assert.equal((await fetch(`${kube.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).status, 201);
    for (const ns of [NS, "apps"]) await post("/api/v1/namespaces", { metadata: { name: ns } });
    await post("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", { metadata: { name: "fluxgate" }, webhooks: [webhook("validate.fluxgate.io", "/validate"), webhook("audit.fluxgate.io", "/audit")] });
    await post("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", { metadata: { name: "fluxgate" }, webhooks: [{ ...webhook("mutate.fluxgate.io", "/mutate"), failurePolicy: "Ignore" }] });
  });
  after(async () => {
    await kube?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it("creates both Secrets and writes the caBundle into every webhook of both configurations", async () => {
    const r = await certs("--secret", "fluxgate-serving", "--patch-webhooks", "fluxgate", "--output", "ca-bundle");
    assert.equal(r.code, 0);
    const ca = await secret("fluxgate-serving-ca");
    const serving = await secret("fluxgate-serving");
    assert.equal(r.out, `${caBundle(ca.data["ca.crt"]!)}\n`);
    assert.deepEqual(Object.keys(ca.data).sort(), ["ca.crt", "ca.key"]);
    assert.equal(ca.type, "Opaque");
    assert.deepEqual(Object.keys(serving.data).sort(), ["ca.crt", "tls.crt", "tls.key"]);
    assert.equal(serving.type, "kubernetes.io/tls");
    assert.equal(serving.data["ca.crt"], ca.data["ca.crt"]);
    assert.deepEqual(describeCert(serving.data["tls.crt"]!).dnsNames.slice(0, 4), ["fluxgate", "fluxgate.fluxgate-system", "fluxgate.fluxgate-system.svc", "fluxgate.fluxgate-system.svc.cluster.local"]);
    assert.deepEqual(await bundles(), [r.out.trim(), r.out.trim(), r.out.trim()]);
    assert.equal(
      r.err.replace(/ in \S+: .*\n/, " in DIR\n"),
      [
        "fluxgate certs: issued ca+serving in DIR",
        "fluxgate certs: Secret fluxgate-system/fluxgate-serving-ca created",
        "fluxgate certs: Secret fluxgate-system/fluxgate-serving created",
        "fluxgate certs: caBundle written into ValidatingWebhookConfiguration fluxgate",
        "fluxgate certs: caBundle written into MutatingWebhookConfiguration fluxgate",
        "",
      ].join("\n"),
    );
  });

  it("changes nothing on the next run (the daily CronJob): the Secrets are the source of truth", async () => {
    const before = [await secret("fluxgate-serving-ca"), await secret("fluxgate-serving")].map((s) => s.resourceVersion);
    const bundle = await bundles();
    const r = await certs("--secret", "fluxgate-serving", "--patch-webhooks", "fluxgate", "--output", "ca-bundle");
    assert.deepEqual({ code: r.code, err: r.err, out: r.out }, { code: 0, err: "", out: `${bundle[0]}\n` });
    assert.deepEqual([await secret("fluxgate-serving-ca"), await secret("fluxgate-serving")].map((s) => s.resourceVersion), before);
    assert.deepEqual(await bundles(), bundle);
  });

  it("lets kube-apiserver call a webhook that serves the Secret's pair, trusting it through the caBundle", async () => {
    const serving = await secret("fluxgate-serving");
    const server = createServer({ cert: serving.data["tls.crt"], key: serving.data["tls.key"] }, (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c));
      req.on("end", () => {
        const review = JSON.parse(body) as { request: { uid: string } };
        const answer = req.url?.startsWith("/validate") === true ? { allowed: false, status: { code: 403, message: "called over verified TLS" } } : { allowed: true };
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: review.request.uid, ...answer } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      enableAdmission(kube, { resolveService: () => `https://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const r = await fetch(`${kube.url}/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "app" }, spec: { interval: "1m", prune: true, sourceRef: { kind: "GitRepository", name: "app" } } }),
      });
      assert.equal(r.status, 403);
      assert.equal(((await r.json()) as { message: string }).message, 'admission webhook "validate.fluxgate.io" denied the request: called over verified TLS');
    } finally {
      enableAdmission(kube);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("replaces a broken CA and keeps the old one in the caBundle and the CA Secret until it expires", async () => {
    const old = await secret("fluxgate-serving-ca");
    const stranger = await issueCa();
    const put = await fetch(`${kube.url}/api/v1/namespaces/${NS}/secrets/fluxgate-serving-ca`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "fluxgate-serving-ca", namespace: NS }, type: "Opaque", data: { "ca.crt": b64(old.data["ca.crt"]!), "ca.key": b64(stranger.keyPem) } }),
    });
    assert.equal(put.status, 200);
    const r = await certs("--secret", "fluxgate-serving", "--patch-webhooks", "fluxgate", "--output", "ca-bundle");
    assert.equal(r.code, 0);
    assert.match(r.err, /^fluxgate certs: issued ca\+serving in \S+: ca\.key does not match ca\.crt\n/);
    const ca = await secret("fluxgate-serving-ca");
    assert.notEqual(ca.data["ca.crt"], old.data["ca.crt"]);
    assert.equal(ca.data[PREVIOUS_CA_KEY], old.data["ca.crt"]);
    const bundle = unb64(r.out.trim());
    assert.equal(bundle, `${ca.data["ca.crt"]}${old.data["ca.crt"]}`);
    assert.deepEqual(await bundles(), [r.out.trim(), r.out.trim(), r.out.trim()]);
    assert.equal((await secret("fluxgate-serving")).data["ca.crt"], ca.data["ca.crt"]);
    // The next run keeps both: the old CA is still valid.
    const again = await certs("--secret", "fluxgate-serving", "--output", "ca-bundle");
    assert.deepEqual({ err: again.err, out: again.out }, { err: "", out: r.out });
  });

  it("fails naming the configuration when neither webhook configuration exists", async () => {
    await assert.rejects(certs("--patch-webhooks", "nope"), { message: '--patch-webhooks: there is no ValidatingWebhookConfiguration or MutatingWebhookConfiguration named "nope"' });
  });

  it("refuses flag combinations and names that cannot work", async () => {
    await assert.rejects(certs("--ca-secret", "my-ca"), new UsageError("--ca-secret: needs --secret (the serving certificate's Secret)"));
    await assert.rejects(certs("--secret", "Fluxgate_Serving"), new UsageError('--secret: expected a Kubernetes object name (lower-case letters, digits, "-" and "."), got "Fluxgate_Serving"'));
  });
});
