/**
 * The one place that decides how Fluxgate reaches the API server: in-cluster (service account token and CA), a
 * kubeconfig file (`KUBECONFIG`, merged like kubectl when it lists several, or `~/.kube/config`), or an explicit
 * server URL with an optional token, CA and TLS settings. `from: "auto"` follows controller-runtime's order:
 * `KUBECONFIG`, then in-cluster, then `~/.kube/config`.
 */
import { accessSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { ConfigError, FluxgateError, UnavailableError } from "../errors.ts";

/** Where the connection settings come from. */
export type KubeConfigSource =
  | { from: "auto"; context?: string }
  | {
      from: "in-cluster";
      /** Prefix of `/var/run/secrets/kubernetes.io/serviceaccount` (tests point it at a temporary directory). */
      root?: string;
    }
  | {
      from: "kubeconfig";
      /** Default: the files in `KUBECONFIG` (merged, first wins), else `~/.kube/config`. */
      path?: string;
      /** Default: the file's `current-context`. */
      context?: string;
    }
  | {
      from: "server";
      /** `https://host:port` (or `http://` for a local proxy or emulator). */
      server: string;
      token?: string;
      /** Read again every minute, like a projected service-account token. */
      tokenFile?: string;
      /** PEM file of the CA to trust; default: the system's. */
      caFile?: string;
      /** PEM (not base64) of the CA to trust. */
      caPem?: string;
      insecureSkipTlsVerify?: boolean;
      /** SNI and the name checked against the certificate, when it differs from the URL's host. */
      tlsServerName?: string;
    };

/** A loaded configuration and what it points at. */
export type LoadedKubeConfig = {
  kubeConfig: KubeConfig;
  server: string;
  /** The context's namespace (in-cluster: the pod's own), if any. */
  namespace: string | undefined;
  /** For the start-up log: `in-cluster`, `kubeconfig /path (context ctx)` or `server https://…`. */
  description: string;
};

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * Loads the configuration from `source`. Problems are errors that say what is missing and where.
 * @example const { kubeConfig, description } = loadKubeConfig({ from: "auto" })
 */
export function loadKubeConfig(source: KubeConfigSource): LoadedKubeConfig {
  switch (source.from) {
    case "auto":
      return loadAuto(source.context);
    case "in-cluster":
      return loadInCluster(source.root ?? "");
    case "kubeconfig":
      return loadKubeconfigFiles(source.path === undefined ? defaultKubeconfigFiles() : [source.path], source.context);
    case "server":
      return loadServer(source);
  }
}

function loadAuto(context: string | undefined): LoadedKubeConfig {
  const fromEnv = kubeconfigEnvFiles();
  if (fromEnv.length > 0) return loadKubeconfigFiles(fromEnv, context);
  if (process.env.KUBERNETES_SERVICE_HOST !== undefined && process.env.KUBERNETES_SERVICE_HOST !== "") return loadInCluster("");
  const home = homeKubeconfig();
  if (exists(home)) return loadKubeconfigFiles([home], context);
  throw new UnavailableError(
    "NoKubeConfig",
    "no Kubernetes API configured: set KUBECONFIG, run in a pod (KUBERNETES_SERVICE_HOST), create ~/.kube/config, or give a server URL",
  );
}

function kubeconfigEnvFiles(): string[] {
  return (process.env.KUBECONFIG ?? "").split(delimiter).filter((f) => f !== "");
}

function defaultKubeconfigFiles(): string[] {
  const fromEnv = kubeconfigEnvFiles();
  return fromEnv.length > 0 ? fromEnv : [homeKubeconfig()];
}

/** `$HOME/.kube/config`, as kubectl and client-node find it (Bun's `os.homedir()` ignores a changed HOME). */
function homeKubeconfig(): string {
  const home = process.env.HOME;
  return join(home === undefined || home === "" ? homedir() : home, ".kube", "config");
}

function loadKubeconfigFiles(files: string[], context: string | undefined): LoadedKubeConfig {
  const kc = new KubeConfig();
  files.forEach((file, i) => {
    const one = i === 0 ? kc : new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (e) {
      const message = (e as { code?: unknown }).code === "ENOENT" ? "file not found" : `not a kubeconfig: ${e instanceof Error ? e.message : String(e)}`;
      throw new ConfigError(file, [{ path: "", message }], { cause: e });
    }
    if (one !== kc) kc.mergeConfig(one, true); // like kubectl: the first file that sets a value wins
  });
  const where = files.join(delimiter);
  if (context !== undefined) {
    if (kc.getContextObject(context) === null) {
      throw new ConfigError(where, [{ path: "contexts", message: `no context named "${context}"; the file has ${names(kc.getContexts())}` }]);
    }
    kc.setCurrentContext(context);
  }
  const current = kc.getCurrentContext();
  const ctx = kc.getContextObject(current);
  if (ctx === null) {
    throw new ConfigError(where, [{ path: "current-context", message: current === undefined || current === "" ? "not set, and no context was given" : `names "${current}", which is not among ${names(kc.getContexts())}` }]);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new ConfigError(where, [{ path: "contexts", message: `context "${current}" names cluster "${ctx.cluster}", which is not defined` }]);
  return { kubeConfig: kc, server: cluster.server, namespace: ctx.namespace, description: `kubeconfig ${where} (context ${current})` };
}

function loadInCluster(root: string): LoadedKubeConfig {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (host === undefined || host === "" || port === undefined || port === "") {
    throw new UnavailableError("NotInCluster", "in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, which the kubelet sets in every pod");
  }
  const dir = `${root}${SERVICE_ACCOUNT}`;
  for (const file of ["token", "ca.crt"]) {
    if (!exists(join(dir, file))) {
      throw new UnavailableError("NotInCluster", `in-cluster configuration needs ${join(dir, file)}; is a service account token mounted (automountServiceAccountToken)?`);
    }
  }
  const kc = new KubeConfig();
  kc.loadFromCluster(root);
  const cluster = kc.getCurrentCluster();
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace?.trim();
  return { kubeConfig: kc, server: cluster?.server ?? "", namespace: namespace === "" ? undefined : namespace, description: "in-cluster" };
}

function loadServer(source: Extract<KubeConfigSource, { from: "server" }>): LoadedKubeConfig {
  let url: URL;
  try {
    url = new URL(source.server);
  } catch {
    throw new FluxgateError("InvalidKubeServer", `Kubernetes API server "${source.server}" is not a URL; expected e.g. https://127.0.0.1:6443`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new FluxgateError("InvalidKubeServer", `Kubernetes API server "${source.server}": expected an https:// or http:// URL`);
  }
  if (source.token !== undefined && source.tokenFile !== undefined) {
    throw new FluxgateError("InvalidKubeServer", "give a token or a token file for the Kubernetes API server, not both");
  }
  const server = source.server.replace(/\/+$/, "");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "fluxgate",
        server,
        skipTLSVerify: source.insecureSkipTlsVerify ?? false,
        ...(source.caFile !== undefined ? { caFile: source.caFile } : {}),
        ...(source.caPem !== undefined ? { caData: Buffer.from(source.caPem).toString("base64") } : {}),
        ...(source.tlsServerName !== undefined ? { tlsServerName: source.tlsServerName } : {}),
      },
    ],
    users: [
      {
        name: "fluxgate",
        ...(source.token !== undefined ? { token: source.token } : {}),
        ...(source.tokenFile !== undefined ? { authProvider: { name: "tokenFile", config: { tokenFile: source.tokenFile } } } : {}),
      },
    ],
    contexts: [{ name: "fluxgate", cluster: "fluxgate", user: "fluxgate" }],
    currentContext: "fluxgate",
  });
  if (source.caFile !== undefined) readable(source.caFile, "CA file");
  if (source.tokenFile !== undefined) readable(source.tokenFile, "token file");
  return { kubeConfig: kc, server, namespace: undefined, description: `server ${server}` };
}

function readable(file: string, what: string): void {
  try {
    readFileSync(file);
  } catch (e) {
    throw new UnavailableError("KubeCredentials", `${what} ${file} cannot be read: ${(e as { code?: string }).code ?? String(e)}`, { cause: e });
  }
}

function exists(file: string): boolean {
  try {
    accessSync(file);
    return true;
  } catch {
    return false;
  }
}

function names(list: Array<{ name: string }>): string {
  return list.length === 0 ? "no contexts" : list.map((c) => `"${c.name}"`).join(", ");
}
