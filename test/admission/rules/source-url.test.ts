import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { patternKey, sourceKey } from "../../../src/admission/rules/source-url.ts";
import { denialsOf, fluxObject } from "../admission-request.ts";

const RULE = "source-url";
const TENANT = { sources: { urls: ["https://github.com/org/*", "oci://ghcr.io/org/**", "https://charts.example.com", "s3.example.com/org-*", "registry.example.com:5000/org/*"] } };
const ALLOWED = 'tenant "dev-team" may use only "https://github.com/org/*", "oci://ghcr.io/org/**", "https://charts.example.com", "s3.example.com/org-*" or "registry.example.com:5000/org/*"';

const notAllowed = (path: string, value: string, key: string, allowed = ALLOWED) => ({
  rule: RULE,
  path,
  value,
  message: `${path}: ${JSON.stringify(value)} (${key}) is not an allowed source; ${allowed}`,
});
const plainHttp = (path: string, value: string) => ({ rule: RULE, path, value, message: `${path}: ${JSON.stringify(value)} uses plain HTTP; tenant "dev-team" may use only TLS sources` });
const insecure = { rule: RULE, path: "spec.insecure", value: true, message: 'spec.insecure: true allows plain HTTP; tenant "dev-team" may use only TLS sources' };

const git = (url: string) => fluxObject("source.toolkit.fluxcd.io/v1", "GitRepository", { url, ref: { branch: "main" } });
const helmRepository = (url: string, more: Record<string, unknown> = {}) => fluxObject("source.toolkit.fluxcd.io/v1", "HelmRepository", { url, ...more });
const oci = (url: string, more: Record<string, unknown> = {}) => fluxObject("source.toolkit.fluxcd.io/v1", "OCIRepository", { url, ref: { tag: "latest" }, ...more });
const bucket = (endpoint: string, bucketName: string, more: Record<string, unknown> = {}) => fluxObject("source.toolkit.fluxcd.io/v1", "Bucket", { endpoint, bucketName, ...more });
const image = (name: string, more: Record<string, unknown> = {}) => fluxObject("image.toolkit.fluxcd.io/v1", "ImageRepository", { image: name, ...more });

describe("source-url", () => {
  it("allows a GitRepository URL matching a glob in any of its forms: https, ssh, scp, .git, other case", () => {
    for (const url of ["https://github.com/org/app", "ssh://git@github.com/org/app", "git@github.com:org/app.git", "https://GitHub.com/Org/App/"]) {
      assert.deepEqual(denialsOf(RULE, git(url), TENANT), [], url);
    }
  });

  it("denies a GitRepository URL outside the globs, showing the key it compared", () => {
    assert.deepEqual(denialsOf(RULE, git("https://github.com/other/app"), TENANT), [notAllowed("spec.url", "https://github.com/other/app", "github.com/other/app")]);
    // `*` stops at `/`.
    assert.deepEqual(denialsOf(RULE, git("https://github.com/org/app/sub"), TENANT), [notAllowed("spec.url", "https://github.com/org/app/sub", "github.com/org/app/sub")]);
  });

  it("denies a plain-HTTP GitRepository even at an allowed location", () => {
    assert.deepEqual(denialsOf(RULE, git("http://github.com/org/app"), TENANT), [plainHttp("spec.url", "http://github.com/org/app")]);
  });

  it("judges HelmRepository URLs: https, oci and plain http, and insecure", () => {
    assert.deepEqual(denialsOf(RULE, helmRepository("https://charts.example.com/"), TENANT), []);
    assert.deepEqual(denialsOf(RULE, helmRepository("oci://ghcr.io/org/charts", { type: "oci" }), TENANT), []);
    assert.deepEqual(denialsOf(RULE, helmRepository("https://charts.bitnami.com/bitnami"), TENANT), [notAllowed("spec.url", "https://charts.bitnami.com/bitnami", "charts.bitnami.com/bitnami")]);
    assert.deepEqual(denialsOf(RULE, helmRepository("http://charts.example.com"), TENANT), [plainHttp("spec.url", "http://charts.example.com")]);
    assert.deepEqual(denialsOf(RULE, helmRepository("oci://ghcr.io/org/charts", { type: "oci", insecure: true }), TENANT), [insecure]);
  });

  it("judges OCIRepository URLs, tag dropped, and insecure", () => {
    assert.deepEqual(denialsOf(RULE, oci("oci://ghcr.io/org/manifests/app"), TENANT), []);
    assert.deepEqual(denialsOf(RULE, oci("oci://docker.io/org/app"), TENANT), [notAllowed("spec.url", "oci://docker.io/org/app", "docker.io/org/app")]);
    assert.deepEqual(denialsOf(RULE, oci("oci://ghcr.io/org/app", { insecure: true }), TENANT), [insecure]);
  });

  it("judges a Bucket by endpoint and bucket name, and insecure", () => {
    assert.deepEqual(denialsOf(RULE, bucket("s3.example.com", "org-manifests"), TENANT), []);
    assert.deepEqual(denialsOf(RULE, bucket("s3.example.com", "backups"), TENANT), [notAllowed("spec.endpoint", "s3.example.com", "s3.example.com/backups")]);
    assert.deepEqual(denialsOf(RULE, bucket("s3.example.com", "org-manifests", { insecure: true }), TENANT), [insecure]);
  });

  it("judges an ImageRepository image, Docker Hub short names expanded, and insecure", () => {
    assert.deepEqual(denialsOf(RULE, image("ghcr.io/org/app"), TENANT), []);
    assert.deepEqual(denialsOf(RULE, image("registry.example.com:5000/org/app", { insecure: true }), TENANT), [insecure]);
    assert.deepEqual(denialsOf(RULE, image("nginx"), TENANT), [notAllowed("spec.image", "nginx", "docker.io/library/nginx")]);
  });

  it("allows http:// and insecure: true to a tenant with sources.allowInsecure", () => {
    const tenant = { sources: { ...TENANT.sources, allowInsecure: true } };
    assert.deepEqual(denialsOf(RULE, git("http://github.com/org/app"), tenant), []);
    assert.deepEqual(denialsOf(RULE, oci("oci://ghcr.io/org/app", { insecure: true }), tenant), []);
  });

  it("denies every source to a tenant that lists none", () => {
    assert.deepEqual(denialsOf(RULE, git("https://github.com/org/app")), [notAllowed("spec.url", "https://github.com/org/app", "github.com/org/app", 'tenant "dev-team" has no allowed sources')]);
  });

  it("allows every location with **", () => {
    assert.deepEqual(denialsOf(RULE, git("https://gitlab.com/a/b/c"), { sources: { urls: ["**"] } }), []);
  });

  it("denies a location it cannot read", () => {
    assert.deepEqual(denialsOf(RULE, bucket("https://s3.example.com/", "x"), TENANT), [
      { rule: RULE, path: "spec.endpoint", value: "https://s3.example.com/", message: `spec.endpoint: "https://s3.example.com/" is not a location Fluxgate can read; ${ALLOWED}` },
    ]);
  });

  it("does not judge kinds without a source location", () => {
    assert.deepEqual(denialsOf(RULE, fluxObject("source.toolkit.fluxcd.io/v1", "HelmChart", { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "x" } }), TENANT), []);
  });
});

describe("sourceKey", () => {
  it("reduces a location to host/path", () => {
    assert.deepEqual(
      [
        sourceKey("https://github.com/fluxcd/flux2-multi-tenancy"),
        sourceKey("ssh://git@github.com:fluxcd/flux2.git"),
        sourceKey("git@github.com:fluxcd/flux2.git"),
        sourceKey("https://helm.cilium.io/"),
        sourceKey("https://charts.example.com:8443/stable"),
        sourceKey("oci://ghcr.io/stefanprodan/charts/podinfo:6.5.0"),
        sourceKey("nginx", "image"),
        sourceKey("minio.example.com:9000/backups", "bucket"),
        sourceKey("not a url"),
        sourceKey(""),
      ],
      ["github.com/fluxcd/flux2-multi-tenancy", "github.com/fluxcd/flux2", "github.com/fluxcd/flux2", "helm.cilium.io", "charts.example.com:8443/stable", "ghcr.io/stefanprodan/charts/podinfo", "docker.io/library/nginx", "minio.example.com:9000/backups", undefined, undefined],
    );
  });
});

describe("patternKey", () => {
  it("reduces a pattern the same way, keeping glob characters", () => {
    assert.deepEqual(
      [
        patternKey("https://github.com/fluxcd/?*"),
        patternKey("ssh://git@github.com:fluxcd/?*"),
        patternKey("git@github.com:fluxcd/*.git"),
        patternKey("https://*.github.io/**"),
        patternKey("https://charts.example.com:443/"),
        patternKey("registry.example.com:5000/org/*"),
        patternKey("oci://GHCR.io/Org/**"),
      ],
      ["github.com/fluxcd/?*", "github.com/fluxcd/?*", "github.com/fluxcd/*", "*.github.io/**", "charts.example.com", "registry.example.com:5000/org/*", "ghcr.io/org/**"],
    );
  });
});
