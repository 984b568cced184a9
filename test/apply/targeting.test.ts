import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChangeEvent } from "../../src/events/change-event.ts";
import { inventoryOf } from "../../src/apply/inventory-index.ts";
import { inventoryObject } from "../../src/apply/inventory-object.ts";
import type { InventoryObject } from "../../src/apply/inventory-object.ts";
import { targets } from "../../src/apply/targeting.ts";
import type { KubeObject } from "../../src/kube/object.ts";
import {
  flux,
  genericEvent,
  gitEvent,
  gitRepository,
  helmChart,
  helmRepository,
  imageEvent,
  imageRepository,
  kustomization,
  ociRepository,
  receiver,
} from "./flux-objects.ts";

const APP = "https://github.com/org/app";
const parsed = (objects: KubeObject[]): InventoryObject[] => objects.map((o) => inventoryObject(o) ?? assert.fail(`${o.kind} did not parse`));
/** Targets as `Kind namespace/name via` lines, suspended ones marked. */
const hit = (event: ChangeEvent, ...objects: KubeObject[]): string[] =>
  targets(event, inventoryOf(parsed(objects))).map((t) => `${t.kind} ${t.namespace}/${t.name} ${t.via}${t.suspended ? " suspended" : ""}`);

describe("targeting a push to a Git repository", () => {
  it("targets a GitRepository following the pushed branch, whatever URL form either side writes", () => {
    const repos = [gitRepository("apps", "https", "https://github.com/Org/App.git", { branch: "main" }), gitRepository("apps", "ssh", "ssh://git@github.com/org/app", { branch: "main" })];
    assert.deepEqual(hit(gitEvent("git@github.com:org/app.git", "refs/heads/main"), ...repos), ["GitRepository apps/https source", "GitRepository apps/ssh source"]);
  });

  it("leaves a GitRepository following another branch, and one of another repository", () => {
    const event = gitEvent(APP, "refs/heads/main");
    assert.deepEqual(hit(event, gitRepository("apps", "dev", APP, { branch: "develop" }), gitRepository("apps", "other", "https://github.com/org/other", { branch: "main" })), []);
  });

  it("reads no ref as Flux does: the master branch", () => {
    const repo = gitRepository("apps", "app", APP);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/master"), repo), ["GitRepository apps/app source"]);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), repo), []);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/master"), gitRepository("apps", "empty", APP, {})), ["GitRepository apps/empty source"]);
  });

  it("targets a tag ref only by that tag, and never by a branch push", () => {
    const repo = gitRepository("apps", "app", APP, { tag: "v1.2.0" });
    assert.deepEqual(hit(gitEvent(APP, "refs/tags/v1.2.0"), repo), ["GitRepository apps/app source"]);
    assert.deepEqual(hit(gitEvent(APP, "refs/tags/v1.3.0"), repo), []);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/v1.2.0"), repo), []);
  });

  it("targets a semver ref by a tag inside the range, written the Masterminds way", () => {
    const repo = gitRepository("apps", "app", APP, { semver: ">= 1.0, < 2.0" });
    assert.deepEqual(hit(gitEvent(APP, "refs/tags/v1.5.0"), repo), ["GitRepository apps/app source"]);
    assert.deepEqual(hit(gitEvent(APP, "refs/tags/v2.0.0"), repo), []);
    assert.deepEqual(hit(gitEvent(APP, "refs/tags/latest"), repo), []);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), repo), []);
  });

  it("targets a name ref by the full ref it names", () => {
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), gitRepository("apps", "app", APP, { name: "refs/heads/main" })), ["GitRepository apps/app source"]);
    assert.deepEqual(hit(gitEvent(APP, "refs/tags/v1"), gitRepository("apps", "app", APP, { name: "refs/tags/v1" })), ["GitRepository apps/app source"]);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), gitRepository("apps", "app", APP, { name: "refs/pull/1/head" })), []);
  });

  it("never targets a commit pin, even with a branch beside it", () => {
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), gitRepository("apps", "app", APP, { branch: "main", commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246" })), []);
  });

  it("matches by any clone URL the provider sends, and targets every namespace, sorted", () => {
    const event = gitEvent("https://gitlab.example.com/group/app", "refs/heads/main", { urls: ["https://gitlab.example.com/group/app.git", "git@gitlab.example.com:group/app.git"] });
    const repos = [gitRepository("team-b", "app", "ssh://git@gitlab.example.com/group/app.git", { branch: "main" }), gitRepository("team-a", "app", "https://gitlab.example.com/group/app", { branch: "main" })];
    assert.deepEqual(hit(event, ...repos), ["GitRepository team-a/app source", "GitRepository team-b/app source"]);
  });

  it("returns a suspended GitRepository marked suspended, for the router to skip and count", () => {
    const repo = gitRepository("apps", "app", APP, { branch: "main" }, { suspend: true });
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), repo), ["GitRepository apps/app source suspended"]);
  });
});

describe("targeting a pushed image or chart", () => {
  it("targets an OCIRepository following the pushed tag, and by default the tag latest", () => {
    const fixed = ociRepository("apps", "fixed", "oci://ghcr.io/org/manifests", { tag: "1.2.3" });
    const latest = ociRepository("apps", "latest", "oci://ghcr.io/org/manifests");
    assert.deepEqual(hit(imageEvent("ghcr.io/org/manifests", { tag: "1.2.3" }), fixed, latest), ["OCIRepository apps/fixed source"]);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/manifests", { tag: "latest" }), fixed, latest), ["OCIRepository apps/latest source"]);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/other", { tag: "1.2.3" }), fixed, latest), []);
  });

  it("targets an OCIRepository semver ref by a tag in range that also passes semverFilter", () => {
    const repo = ociRepository("apps", "app", "oci://ghcr.io/org/manifests", { semver: ">=1.0.0", semverFilter: "^1\\.\\d+\\.\\d+$" });
    assert.deepEqual(hit(imageEvent("ghcr.io/org/manifests", { tag: "1.4.0" }), repo), ["OCIRepository apps/app source"]);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/manifests", { tag: "2.0.0" }), repo), []);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/manifests", { tag: "0.9.0" }), repo), []);
  });

  it("targets a digest pin only by a push of that digest", () => {
    const digest = "sha256:6113728f27ae82c7b1a177c8d03f9e96e0adf2466113728f27ae82c7b1a177c8";
    const repo = ociRepository("apps", "app", "oci://ghcr.io/org/manifests", { digest, tag: "1.2.3" });
    assert.deepEqual(hit(imageEvent("ghcr.io/org/manifests", { tag: "1.2.3", digest }), repo), ["OCIRepository apps/app source"]);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/manifests", { tag: "1.2.3", digest: digest.replace("6113", "7113") }), repo), []);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/manifests", { tag: "1.2.3" }), repo), []);
  });

  it("targets an ImageRepository of the image for any tag it scans, not signature tags or its exclusions", () => {
    const repo = imageRepository("apps", "app", "ghcr.io/org/app");
    const picky = imageRepository("apps", "picky", "ghcr.io/org/app", { exclusionList: ["^dev-"] });
    assert.deepEqual(hit(imageEvent("ghcr.io/org/app", { tag: "1.0.0" }), repo, picky), ["ImageRepository apps/app source", "ImageRepository apps/picky source"]);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/app", { tag: "sha256-abc.sig" }), repo, picky), ["ImageRepository apps/picky source"]);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/app", { tag: "dev-42" }), repo, picky), ["ImageRepository apps/app source"]);
  });

  it("matches Docker Hub short names to the pushed repository", () => {
    assert.deepEqual(hit(imageEvent("docker.io/library/nginx", { tag: "1.27" }), imageRepository("web", "nginx", "nginx")), ["ImageRepository web/nginx source"]);
  });

  it("targets the HelmCharts of an OCI HelmRepository whose version range the pushed chart satisfies, not the static repository", () => {
    const repo = helmRepository("apps", "charts", "oci://ghcr.io/org/charts", "oci");
    const six = helmChart("apps", "podinfo-6", "podinfo", "charts", "6.x");
    const any = helmChart("apps", "podinfo-any", "podinfo", "charts");
    const other = helmChart("apps", "redis", "redis", "charts");
    assert.deepEqual(hit(imageEvent("ghcr.io/org/charts/podinfo", { tag: "6.5.0", kind: "helm" }), repo, six, any, other), ["HelmChart apps/podinfo-6 source", "HelmChart apps/podinfo-any source"]);
    assert.deepEqual(hit(imageEvent("ghcr.io/org/charts/podinfo", { tag: "7.0.0", kind: "helm" }), repo, six, any, other), ["HelmChart apps/podinfo-any source"]);
  });

  it("targets an HTTP HelmRepository whose index serves the pushed chart", () => {
    const repo = helmRepository("apps", "example", "https://charts.example.com");
    assert.deepEqual(hit(imageEvent("charts.example.com/podinfo", { tag: "6.5.0", kind: "helm" }), repo, helmChart("apps", "podinfo", "podinfo", "example")), ["HelmRepository apps/example source"]);
  });
});

describe("targeting a delivery on a Flux Receiver's path", () => {
  const ks = (name: string, source: string, labels: Record<string, string> = {}) => kustomization("apps", name, { name: source }, { labels });
  const objects = [
    gitRepository("apps", "app", APP, { branch: "main" }),
    gitRepository("apps", "other", "https://github.com/org/other", { branch: "main" }),
    ks("app", "app", { team: "a" }),
    ks("other", "other", { team: "a" }),
    ks("unlabelled", "app"),
    flux("Bucket", "apps", "bucket", { interval: "5m", bucketName: "b", endpoint: "s3.example.com" }),
  ];

  it("targets every listed resource on any delivery, as notification-controller does", () => {
    const r = receiver("flux-system", "github-receiver", [
      { kind: "GitRepository", name: "other", namespace: "apps" },
      { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", name: "app", namespace: "apps" },
    ]);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), r, ...objects), ["GitRepository apps/other receiver", "Kustomization apps/app receiver"]);
  });

  it("fans a `*` resource out to the objects its matchLabels select, in the Receiver's namespace by default", () => {
    const r = receiver("apps", "hook", [{ kind: "Kustomization", name: "*", matchLabels: { team: "a" } }]);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main", { via: "apps/hook" }), r, ...objects), ["Kustomization apps/app receiver", "Kustomization apps/other receiver"]);
  });

  it("with smart filtering keeps the sources the push matches, the objects using them, and what it cannot judge", () => {
    const r = receiver(
      "flux-system",
      "github-receiver",
      [
        { kind: "GitRepository", name: "*", namespace: "apps", matchLabels: {} },
        { kind: "Kustomization", name: "*", namespace: "apps", matchLabels: {} },
        { kind: "Bucket", name: "bucket", namespace: "apps" },
      ],
      true,
    );
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), r, ...objects), [
      "Bucket apps/bucket receiver",
      "GitRepository apps/app receiver",
      "Kustomization apps/app receiver",
      "Kustomization apps/unlabelled receiver",
    ]);
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/develop"), r, ...objects), ["Bucket apps/bucket receiver"]);
  });

  it("with smart filtering still targets every resource for a generic delivery, which names no source", () => {
    const r = receiver("flux-system", "generic", [{ kind: "GitRepository", name: "*", namespace: "apps", matchLabels: {} }], true);
    assert.deepEqual(hit(genericEvent("flux-system/generic"), r, ...objects), ["GitRepository apps/app receiver", "GitRepository apps/other receiver"]);
  });

  it("with smart filtering judges a HelmRelease by the chart and version it installs", () => {
    const r = receiver("flux-system", "registry", [{ apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease", name: "*", namespace: "apps", matchLabels: {} }], true);
    const repo = helmRepository("apps", "charts", "oci://ghcr.io/org/charts", "oci");
    const release = (name: string, version: string) =>
      flux("HelmRelease", "apps", name, { interval: "10m", chart: { spec: { chart: "podinfo", version, sourceRef: { kind: "HelmRepository", name: "charts" } } } });
    assert.deepEqual(hit(imageEvent("ghcr.io/org/charts/podinfo", { tag: "6.5.0", kind: "helm" }), r, repo, release("six", "6.x"), release("seven", "7.x")), ["HelmRelease apps/six receiver"]);
  });

  it("skips resources that do not exist, and marks suspended ones", () => {
    const r = receiver("flux-system", "github-receiver", [
      { kind: "GitRepository", name: "missing", namespace: "apps" },
      { kind: "GitRepository", name: "paused", namespace: "apps" },
    ]);
    const paused = gitRepository("apps", "paused", APP, { branch: "main" }, { suspend: true });
    assert.deepEqual(hit(gitEvent(APP, "refs/heads/main"), r, paused), ["GitRepository apps/paused receiver suspended"]);
  });

  it("reads resources a Flux Receiver would fail on as problems, and targets the rest", () => {
    const r = inventoryObject(
      receiver("flux-system", "hook", [
        { kind: "ArtifactGenerator", name: "a" },
        { apiVersion: "helm.toolkit.fluxcd.io/v2beta1", kind: "HelmRelease", name: "old" },
        { kind: "Kustomization", name: "*" },
        { kind: "GitRepository", name: "app", namespace: "apps" },
      ]),
    );
    assert.deepEqual(r?.spec, {
      type: "receiver",
      resources: [{ kind: "GitRepository", namespace: "apps", name: "app" }],
      smartFiltering: false,
      problems: [
        "spec.resources[0]: ArtifactGenerator is not a Flux kind Fluxgate serves",
        "spec.resources[1]: helm.toolkit.fluxcd.io/v2beta1 HelmRelease is not a Flux kind Fluxgate serves",
        'spec.resources[2]: name "*" needs matchLabels',
      ],
      caveats: [],
    });
  });

  it("says that CEL resource filters are not evaluated, and targets every listed resource", () => {
    const object = receiver("apps", "hook", [{ kind: "GitRepository", name: "app", resourceFilter: "res.metadata.name == 'x'" }]);
    const r = inventoryObject({ ...object, spec: { ...(object["spec"] as object), resourceFilter: "true" } });
    assert.ok(r?.spec.type === "receiver");
    assert.deepEqual(r.spec.resources, [{ kind: "GitRepository", namespace: "apps", name: "app" }]);
    assert.deepEqual(r.spec.problems, []);
    assert.deepEqual(r.spec.caveats, ["spec.resourceFilter, spec.resources[0].resourceFilter: CEL filters are not evaluated by Fluxgate; every listed resource is reconciled (fluxgate.io/smart-filtering narrows by ref)"]);
  });
});

describe("targeting a delivery from a configured receiver", () => {
  it("targets nothing for a generic delivery, which names no source", () => {
    assert.deepEqual(hit(genericEvent("flux-system/generic"), gitRepository("apps", "app", APP, { branch: "main" })), []);
  });
});

describe("reading an object again after a watch event", () => {
  const at = (generation: number, uid: string, url: string, annotations: Record<string, string> = {}): KubeObject => {
    const o = gitRepository("apps", "app", url, { branch: "main" });
    return { ...o, metadata: { ...o.metadata, uid, generation, annotations } };
  };

  it("keeps the spec read before while uid and generation stay (a status update, a reconcile request)", () => {
    const before = inventoryObject(at(3, "u1", APP)) ?? assert.fail("no object");
    const after = inventoryObject(at(3, "u1", "https://github.com/org/other", { "reconcile.fluxcd.io/requestedAt": "now" }), before) ?? assert.fail("no object");
    assert.equal(after.spec, before.spec);
    assert.equal(after.reconcile.requestedAt, "now");
  });

  it("reads the spec again on a new generation, a new uid, a smart-filtering change, or no generation at all", () => {
    const before = inventoryObject(at(3, "u1", APP)) ?? assert.fail("no object");
    const other = "https://github.com/org/other";
    for (const changed of [at(4, "u1", other), at(3, "u2", other), at(3, "u1", other, { "fluxgate.io/smart-filtering": "true" })]) {
      assert.deepEqual(inventoryObject(changed, before)?.spec, { type: "git", key: "github.com/org/other", ref: { branch: "main" } });
    }
    const plain = gitRepository("apps", "app", other, { branch: "main" });
    assert.deepEqual(inventoryObject(plain, before)?.spec, { type: "git", key: "github.com/org/other", ref: { branch: "main" } });
  });
});
