/** Builders of Flux objects and ChangeEvents for the apply tests: the smallest manifests that say what a test needs. */
import type { ChangeEvent } from "../../src/events/change-event.ts";
import { fluxKind } from "../../src/flux/kinds.ts";
import type { FluxKindName } from "../../src/flux/kinds.ts";
import { imageKey, repoKey } from "../../src/flux/repo-url.ts";
import type { KubeObject } from "../../src/kube/object.ts";

type Meta = { labels?: Record<string, string>; annotations?: Record<string, string> };

/** A Flux object of `kind` with `spec`. */
export function flux(kind: FluxKindName, namespace: string, name: string, spec: Record<string, unknown>, meta: Meta = {}): KubeObject {
  return { apiVersion: fluxKind(kind).apiVersion, kind, metadata: { name, namespace, ...meta }, spec };
}

export const gitRepository = (namespace: string, name: string, url: string, ref?: Record<string, string>, extra: Record<string, unknown> = {}, meta: Meta = {}) =>
  flux("GitRepository", namespace, name, { interval: "5m", url, ...(ref === undefined ? {} : { ref }), ...extra }, meta);

export const ociRepository = (namespace: string, name: string, url: string, ref?: Record<string, string>, extra: Record<string, unknown> = {}) =>
  flux("OCIRepository", namespace, name, { interval: "5m", url, ...(ref === undefined ? {} : { ref }), ...extra });

export const imageRepository = (namespace: string, name: string, image: string, extra: Record<string, unknown> = {}) =>
  flux("ImageRepository", namespace, name, { interval: "5m", image, ...extra });

export const helmRepository = (namespace: string, name: string, url: string, type?: "oci" | "default") =>
  flux("HelmRepository", namespace, name, { interval: "5m", url, ...(type === undefined ? {} : { type }) });

export const helmChart = (namespace: string, name: string, chart: string, repository: string, version?: string) =>
  flux("HelmChart", namespace, name, { interval: "5m", chart, sourceRef: { kind: "HelmRepository", name: repository }, ...(version === undefined ? {} : { version }) });

export const kustomization = (namespace: string, name: string, source: { kind?: string; name: string; namespace?: string }, meta: Meta = {}) =>
  flux("Kustomization", namespace, name, { interval: "10m", path: "./", prune: true, sourceRef: { kind: "GitRepository", ...source } }, meta);

export type ReceiverResourceSpec = { apiVersion?: string; kind: string; name: string; namespace?: string; matchLabels?: Record<string, string>; resourceFilter?: string };

export const receiver = (namespace: string, name: string, resources: ReceiverResourceSpec[], smart = false) =>
  flux("Receiver", namespace, name, { type: "github", secretRef: { name: "token" }, resources }, smart ? { annotations: { "fluxgate.io/smart-filtering": "true" } } : {});

let events = 0;

/** A push of `ref` (`refs/heads/x` or `refs/tags/x`) to the repository at `url`, through `via` (namespace/name of the receiver). */
export function gitEvent(url: string, ref: string, options: { via?: string; commit?: string; urls?: string[]; receivedAt?: string; id?: string } = {}): ChangeEvent {
  const [ns = "flux-system", name = "github-receiver"] = (options.via ?? "flux-system/github-receiver").split("/");
  const branch = ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : undefined;
  const tag = ref.startsWith("refs/tags/") ? ref.slice("refs/tags/".length) : undefined;
  return {
    id: options.id ?? `event-${++events}`,
    provider: "github",
    receiver: { namespace: ns, name },
    eventType: "push",
    kind: "git",
    git: {
      urls: options.urls ?? [url],
      key: repoKey(url) ?? url,
      ref,
      ...(branch === undefined ? {} : { branch }),
      ...(tag === undefined ? {} : { tag }),
      commit: options.commit ?? "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    },
    deleted: false,
    receivedAt: options.receivedAt ?? new Date().toISOString(),
  };
}

/** A pushed image or chart. */
export function imageEvent(repository: string, options: { tag?: string; digest?: string; via?: string; kind?: "oci" | "helm"; id?: string } = {}): ChangeEvent {
  const [ns = "flux-system", name = "registry"] = (options.via ?? "flux-system/registry").split("/");
  return {
    id: options.id ?? `event-${++events}`,
    provider: "harbor",
    receiver: { namespace: ns, name },
    eventType: "PUSH_ARTIFACT",
    kind: options.kind ?? "oci",
    image: { repository, key: imageKey(repository) ?? repository, ...(options.tag === undefined ? {} : { tag: options.tag }), ...(options.digest === undefined ? {} : { digest: options.digest }) },
    deleted: false,
    receivedAt: new Date().toISOString(),
  };
}

/** A delivery that says nothing about a source (Flux `generic` receivers). */
export function genericEvent(via: string): ChangeEvent {
  const [ns = "flux-system", name = "generic"] = via.split("/");
  return { id: `event-${++events}`, provider: "generic", receiver: { namespace: ns, name }, eventType: "generic", kind: "generic", deleted: false, receivedAt: new Date().toISOString() };
}
