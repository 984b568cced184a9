import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { AdmissionAttributes, AdmissionContext, AdmissionHandler, KubeObject, ValidationOutcome } from "./admission-types.ts";
import { type KubeEmulator, startKubeEmulator } from "./emulator.ts";
import { until } from "../until.ts";
import { KUSTOMIZATION_CRD, kubeClient, ksPath, kustomization, namespace } from "./kube-fetch.ts";

let kube: KubeEmulator;
let api: ReturnType<typeof kubeClient>;
const seen: AdmissionAttributes[] = [];

/** Records what it is asked and allows, unless `decide` says otherwise. */
function recording(decide: (a: AdmissionAttributes, ctx: AdmissionContext) => ReturnType<AdmissionHandler> = async () => ({ allowed: true })): AdmissionHandler {
  return async (attrs, ctx) => {
    seen.push(attrs);
    return decide(attrs, ctx);
  };
}

before(async () => {
  kube = await startKubeEmulator({ crds: [KUSTOMIZATION_CRD] });
  api = kubeClient(kube.url);
  await api.post("/api/v1/namespaces", namespace("adm"));
});
afterEach(() => {
  kube.setAdmission(undefined);
  seen.length = 0;
});
after(() => kube.stop());

describe("admission hook (setAdmission)", () => {
  it("sees a CREATE with kind, resource, namespace, user, options, and the object before the server fills in uid and name", async () => {
    kube.setAdmission(recording());
    const body = kustomization("", "adm");
    body.metadata = { generateName: "gen-", namespace: "adm" };
    const r = await api.post(`${ksPath("adm")}?fieldManager=tester`, body, { "Impersonate-User": "alice", "Impersonate-Group": "dev-team" });
    assert.equal(r.status, 201);
    assert.equal(seen.length, 1);
    const a = seen[0]!;
    assert.equal(a.operation, "CREATE");
    assert.deepEqual(a.kind, { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" });
    assert.deepEqual(a.resource, { group: "kustomize.toolkit.fluxcd.io", version: "v1", resource: "kustomizations" });
    assert.equal(a.name, "");
    assert.equal(a.namespace, "adm");
    assert.deepEqual(a.userInfo, { username: "alice", groups: ["dev-team", "system:authenticated"] });
    assert.equal(a.dryRun, false);
    assert.deepEqual(a.options, { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "tester" });
    assert.equal((a.object!.metadata as KubeObject).uid, undefined);
    assert.equal(a.oldObject, undefined);
    assert.equal(a.subResource, undefined);
  });

  it("stores the mutated object, and ctx.validate gives validating webhooks the object as it will be stored", async () => {
    let validated: ValidationOutcome | undefined;
    kube.setAdmission(
      recording(async (a, ctx) => {
        const mutated = structuredClone(a.object!);
        (mutated.metadata as KubeObject).labels = { "toolkit.fluxcd.io/tenant": "dev" };
        validated = ctx.validate(mutated);
        return { allowed: true, object: mutated };
      }),
    );
    const r = await api.post(ksPath("adm"), kustomization("mutated", "adm"));
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.metadata.labels, { "toolkit.fluxcd.io/tenant": "dev" });
    assert.ok(validated?.ok);
    const m = validated.object.metadata as KubeObject;
    assert.equal(m.uid, r.body.metadata.uid, "the validate step fixed the uid the object is stored with");
    assert.equal(m.generation, 1);
  });

  it("reports a mutation that breaks the schema from ctx.validate, and answers 422 when the handler ignores it", async () => {
    let validated: ValidationOutcome | undefined;
    kube.setAdmission(
      recording(async (a, ctx) => {
        const mutated = structuredClone(a.object!);
        (mutated.spec as KubeObject).interval = "soon";
        validated = ctx.validate(mutated);
        return { allowed: true, object: mutated };
      }),
    );
    const r = await api.post(ksPath("adm"), kustomization("broken", "adm"));
    assert.equal(r.status, 422);
    assert.equal(validated?.ok, false);
    assert.equal(r.body.details.causes[0].field, "spec.interval");
  });

  it("answers a denial with the handler's Status and its warnings as Warning headers", async () => {
    kube.setAdmission(
      recording(async () => ({
        allowed: false,
        warnings: ["window closed"],
        status: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: 'admission webhook "fluxgate.io" denied the request: no',
          reason: "Forbidden",
          code: 403,
        },
      })),
    );
    const r = await api.post(ksPath("adm"), kustomization("denied", "adm"));
    assert.equal(r.status, 403);
    assert.equal(r.body.message, 'admission webhook "fluxgate.io" denied the request: no');
    assert.deepEqual(r.warnings, ["window closed"]);
    assert.equal((await api.get(ksPath("adm", "denied"))).status, 404);
  });

  it("sends an allowed request's warnings as Warning: 299 headers", async () => {
    kube.setAdmission(recording(async () => ({ allowed: true, warnings: ['audit: "spec.path" would be denied'] })));
    const r = await api.post(ksPath("adm"), kustomization("warned", "adm"));
    assert.equal(r.status, 201);
    assert.deepEqual(r.warnings, ['audit: "spec.path" would be denied']);
    assert.equal(r.headers.get("warning"), '299 - "audit: \\"spec.path\\" would be denied"');
  });

  it("sees UPDATE with oldObject for patches and for the status subresource, DELETE with only oldObject, and dryRun", async () => {
    await api.post(ksPath("adm"), kustomization("life", "adm"));
    kube.setAdmission(recording());
    await api.patch(`${ksPath("adm", "life")}?dryRun=All`, { spec: { suspend: true } }, "application/merge-patch+json");
    await api.patch(`${ksPath("adm", "life")}/status`, { status: { observedGeneration: 1 } }, "application/merge-patch+json");
    await api.delete(ksPath("adm", "life"));
    assert.deepEqual(
      seen.map((a) => [a.operation, a.subResource ?? "", a.dryRun, a.object === undefined ? "-" : "object", a.oldObject === undefined ? "-" : "old", a.options?.kind]),
      [
        ["UPDATE", "", true, "object", "old", "UpdateOptions"],
        ["UPDATE", "status", false, "object", "old", "UpdateOptions"],
        ["DELETE", "", false, "-", "old", "DeleteOptions"],
      ],
    );
    assert.equal((seen[0]!.object!.spec as KubeObject).suspend, true);
    assert.equal((seen[0]!.oldObject!.spec as KubeObject).suspend, undefined);
    assert.equal(seen[2]!.name, "life");
  });

  it("redoes a patch on the new state when the object changed while admission was waiting, and answers a PUT 409", async () => {
    assert.equal((await api.post(ksPath("adm"), kustomization("race", "adm"))).status, 201);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    kube.setAdmission(
      recording(async (a) => {
        const labels = ((a.object?.metadata as KubeObject | undefined)?.labels ?? {}) as Record<string, string>;
        if (labels.first === "1" && !held) {
          held = true;
          await gate;
        }
        return { allowed: true };
      }),
    );
    const slow = api.patch(ksPath("adm", "race"), { metadata: { labels: { first: "1" } } }, "application/merge-patch+json");
    await until(() => held, { what: "the first patch to wait in admission" });
    const fast = await api.patch(ksPath("adm", "race"), { metadata: { labels: { second: "2" } } }, "application/merge-patch+json");
    assert.equal(fast.status, 200);
    release();
    const r = await slow;
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.metadata.labels, { first: "1", second: "2" });
    assert.equal(seen.filter((x) => ((x.object?.metadata as KubeObject).labels as Record<string, string> | undefined)?.first === "1").length, 2, "admitted again on the new state");

    let releasePut: () => void = () => {};
    const putGate = new Promise<void>((resolve) => (releasePut = resolve));
    let putHeld = false;
    kube.setAdmission(
      recording(async (a) => {
        if ((a.object?.spec as KubeObject | undefined)?.suspend === true && !putHeld) {
          putHeld = true;
          await putGate;
        }
        return { allowed: true };
      }),
    );
    const latest = (await api.get(ksPath("adm", "race"))).body;
    latest.spec.suspend = true;
    const put = api.put(ksPath("adm", "race"), latest);
    await until(() => putHeld, { what: "the PUT to wait in admission" });
    await api.patch(ksPath("adm", "race"), { metadata: { labels: { third: "3" } } }, "application/merge-patch+json");
    releasePut();
    const conflict = await put;
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.reason, "Conflict");
  });
});
