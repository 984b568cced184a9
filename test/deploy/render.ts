/**
 * Renders deploy/ with the real `kubectl kustomize` (kubectl ships kustomize) for the deploy tests, and finds objects
 * in the result. kubectl runs as a child process (never spawnSync: an emulator may live in this event loop).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadAll } from "js-yaml";

export const KUBECTL = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].find((p) => existsSync(p));

/** `describe(…, { skip })` for tests that need kubectl. */
export const NO_KUBECTL = KUBECTL === undefined ? "kubectl is not installed (Debian package kubectl; .ci/run installs it)" : false;

export const DEPLOY = join(import.meta.dirname, "..", "..", "deploy");

/** Every kustomization a user can render. */
export const OVERLAYS = ["base", "overlays/cert-manager", "overlays/self-signed", "overlays/nats"] as const;

/** A rendered object; the deploy tests read it loosely, field by field. */
export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // Manifests are arbitrary YAML; each test narrows what it reads.
  [key: string]: unknown;
};

export type Run = { code: number; stdout: string; stderr: string };

/** Runs kubectl with `args`; never throws for a non-zero exit. */
export function kubectl(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(KUBECTL ?? "kubectl", args, { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

const rendered = new Map<string, Promise<Manifest[]>>();

/** The objects `kubectl kustomize deploy/<dir>` prints, in its order; rendered once per process. */
export function render(dir: string): Promise<Manifest[]> {
  let r = rendered.get(dir);
  if (r === undefined) {
    r = kubectl(["kustomize", join(DEPLOY, dir)]).then((run) => {
      if (run.code !== 0) throw new Error(`kubectl kustomize deploy/${dir} failed (${run.code}): ${run.stderr}`);
      return loadAll(run.stdout).filter((d): d is Manifest => typeof d === "object" && d !== null) as Manifest[];
    });
    rendered.set(dir, r);
  }
  return r;
}

/** The one object of `kind` named `name`; throws naming what is there when it is missing. */
export function find(objects: Manifest[], kind: string, name: string): Manifest {
  const o = objects.find((m) => m.kind === kind && m.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind} ${name} among ${objects.map((m) => `${m.kind}/${m.metadata.name}`).join(", ")}`);
  return o;
}

/** `Kind/namespace/name` (or `Kind/name`), for comparing object lists. */
export const idOf = (m: Manifest): string => (m.metadata.namespace === undefined ? `${m.kind}/${m.metadata.name}` : `${m.kind}/${m.metadata.namespace}/${m.metadata.name}`);
