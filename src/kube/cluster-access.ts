/**
 * Whether and how this process reaches a cluster, from the `kube` settings: the one decision behind every role that
 * reads the cluster (cluster receivers, later the inventory).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { LoadedKubeConfig } from "./kube-config.ts";

export type KubeSettings = { mode: "auto" | "on" | "off"; kubeconfig?: string | undefined; context?: string | undefined };

/**
 * The cluster to use, or undefined when there is none to use (mode `off`, or `auto` with no credentials around).
 * Throws (with what is missing and where) for `on` without a cluster, or a kubeconfig that cannot be loaded.
 * `@kubernetes/client-node` is loaded only when a cluster is used: it costs ~90 MiB of RSS on Node.
 * @example await clusterAccess({ mode: "auto" }, process.env)
 */
export async function clusterAccess(settings: KubeSettings, env: Record<string, string | undefined>): Promise<LoadedKubeConfig | undefined> {
  if (settings.mode === "off") return undefined;
  const load = async () => (await import("./kube-config.ts")).loadKubeConfig;
  const context = settings.context === undefined ? {} : { context: settings.context };
  if (settings.kubeconfig !== undefined) return (await load())({ from: "kubeconfig", path: settings.kubeconfig, ...context });
  const home = env.HOME ?? homedir();
  const available =
    (env.KUBECONFIG !== undefined && env.KUBECONFIG !== "") ||
    (env.KUBERNETES_SERVICE_HOST !== undefined && existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")) ||
    existsSync(join(home, ".kube", "config"));
  if (!available && settings.mode === "auto") return undefined;
  return (await load())({ from: "auto", ...context });
}
