/**
 * A small fetch-based client for tests of the emulator: JSON in, parsed JSON out, with the status, the headers and
 * the `Warning` header texts.
 */
import { join } from "node:path";
import { FLUX_CRDS_DIR } from "./emulator.ts";

/** What a call answered. `body` is the parsed JSON (or the raw text when it is not JSON). */
export type KubeResponse = {
  status: number;
  // Tests read arbitrary JSON shapes.
  body: any;
  text: string;
  headers: Headers;
  /** `Warning` header texts, unquoted. */
  warnings: string[];
};

/** Calls the emulator at `baseUrl`. */
export function kubeClient(baseUrl: string, defaults: Record<string, string> = {}) {
  const call = async (method: string, path: string, body?: unknown, contentType = "application/json", headers: Record<string, string> = {}): Promise<KubeResponse> => {
    const init: RequestInit = { method, headers: { ...defaults, ...headers } };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)["Content-Type"] = contentType;
    }
    const res = await fetch(`${baseUrl}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // plain text answer (e.g. the APF 429)
    }
    const warnings = (res.headers.get("warning") ?? "")
      .split(/,\s*(?=299 )/)
      .filter((w) => w !== "")
      .map((w) => JSON.parse(w.replace(/^299 - /, "")) as string);
    return { status: res.status, body: parsed, text, headers: res.headers, warnings };
  };
  return {
    call,
    get: (path: string, headers?: Record<string, string>) => call("GET", path, undefined, undefined, headers),
    post: (path: string, body: unknown, headers?: Record<string, string>) => call("POST", path, body, "application/json", headers),
    put: (path: string, body: unknown) => call("PUT", path, body),
    patch: (path: string, body: unknown, contentType: string) => call("PATCH", path, body, contentType),
    delete: (path: string, body?: unknown) => call("DELETE", path, body),
  };
}

/** The Kustomization CRD file only (faster to load than every Flux CRD). */
export const KUSTOMIZATION_CRD = join(FLUX_CRDS_DIR, "kustomize.toolkit.fluxcd.io_kustomizations.yaml");

/** Collection path of Kustomizations in a namespace. */
export const ksPath = (ns: string, name?: string): string =>
  `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations${name === undefined ? "" : `/${name}`}`;

/** A valid Kustomization. */
export function kustomization(name: string, namespace: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace, ...metadata },
    spec: { interval: "5m", prune: true, sourceRef: { kind: "GitRepository", name: "repo" }, ...spec },
  };
}

/** A Namespace body. */
export const namespace = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
