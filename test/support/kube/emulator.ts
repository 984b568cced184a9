/**
 * A kube-apiserver emulator for tests: started in-process on a free 127.0.0.1 port (HTTP, or HTTPS with its own
 * CA), serving discovery, CRUD, patch, server-side apply, watch, CRDs with schema validation, admission hooks and
 * fault injection with kube-apiserver's semantics (`../shared/specs/admission.md` §5, §6).
 *
 * @example
 * await using kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
 * await fetch(`${kube.url}/api/v1/namespaces`, { method: "POST", body: JSON.stringify({ metadata: { name: "apps" } }) });
 * spawnSync("kubectl", [...kube.kubectlArgs(), "get", "ks", "-A"]);
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { issueCa, issueServingCert } from "../../../certs/issue.ts";
import type { AdmissionHandler, KubeObject } from "./admission-types.ts";
import { enableAdmission } from "./admission-wiring.ts";
import { type Api, metaOf } from "./api.ts";
import type { TokenUsers } from "./auth.ts";
import { ADMIN_USER } from "./auth.ts";
import { readCrdFiles } from "./crds.ts";
import { Faults } from "./faults.ts";
import { ResourceRegistry } from "./resources.ts";
import { type RecordedRequest, restHandler } from "./rest.ts";
import { KubeStatusError } from "./status.ts";
import { ObjectStore } from "./store.ts";
import { WatchSet } from "./watch.ts";
import { create, update } from "./writes.ts";

/** Absolute path of the real Flux CRDs (`../shared/fixtures/flux/crds` from the repository root). */
export const FLUX_CRDS_DIR = join(import.meta.dirname, "..", "..", "..", "..", "shared", "fixtures", "flux", "crds");

/** Options of `startKubeEmulator`. */
export type KubeEmulatorOptions = {
  /** Serve HTTPS with a fresh self-signed CA (`caPem`); default plain HTTP. */
  tls?: boolean;
  /** CRD files or directories to load before serving. */
  crds?: string[];
  /** Interval of BOOKMARK events on watches that allow them; default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** Changes kept for watches from a resourceVersion and for continue tokens; default 1000. */
  historySize?: number;
  /** Bearer token → user; any other token (or none) is `system:admin` in `system:masters`. */
  tokens?: TokenUsers;
};

/** A running emulator. */
export type KubeEmulator = {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  url: string;
  /** The CA that signed the serving certificate (TLS only). */
  caPem?: string;
  /** Loads CRDs from files/directories (creating or replacing them, without admission). */
  loadCrds(paths: string[]): Promise<void>;
  /** Writes a kubeconfig pointing at the emulator (for @kubernetes/client-node and kubectl); returns its path. */
  kubeconfigPath(): Promise<string>;
  /**
   * kubectl flags that target the emulator with a fresh discovery cache (a new one per call):
   * `--kubeconfig=/dev/null --server=URL --cache-dir=DIR --token=kube-emulator` (+ `--certificate-authority` with TLS).
   */
  kubectlArgs(): string[];
  faults: Faults;
  /** Every request so far, oldest first (clear with `requests.length = 0`). */
  requests: RecordedRequest[];
  /** Plugs admission into every write (see `admission-types.ts`); undefined removes it. */
  setAdmission(fn: AdmissionHandler | undefined): void;
  /** Stored objects of a resource (copies, at the storage version), for test plumbing such as `admission-wiring.ts`. */
  objects(group: string, resource: string, namespace?: string): KubeObject[];
  /** Versions served for a group/resource (for admission's `matchPolicy: Equivalent`). */
  servedVersions(group: string, resource: string): string[];
  /** Forgets the change history: watches and continue tokens from before now get 410. */
  compact(): void;
  /** The current resourceVersion (global revision). */
  revision(): number;
  /** Closes watches and connections, stops listening, removes temporary files. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

const INITIAL_NAMESPACES = ["default", "kube-system", "kube-public"];

/** Starts an emulator on 127.0.0.1 and a free port. */
export async function startKubeEmulator(options: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
  const api: Api = { registry: new ResourceRegistry(), store: new ObjectStore(options.historySize ?? 1000), admission: undefined, now: () => new Date() };
  const faults = new Faults();
  const requests: RecordedRequest[] = [];
  const watches = new WatchSet();
  const tempDirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), "kube-emulator-"));
    tempDirs.push(d);
    return d;
  };

  const internal = (resource: string, group = ""): { def: NonNullable<ReturnType<ResourceRegistry["get"]>>; user: typeof ADMIN_USER; query: URLSearchParams; userAgent: string } => ({
    def: api.registry.get(group, "v1", resource)!,
    user: ADMIN_USER,
    query: new URLSearchParams(),
    userAgent: "kube-emulator",
  });
  // Seeding and loadCrds bypass admission, like objects that existed before a webhook was registered.
  const withoutAdmission: Api = { ...api, admission: undefined };
  for (const name of INITIAL_NAMESPACES) await create(withoutAdmission, internal("namespaces"), { apiVersion: "v1", kind: "Namespace", metadata: { name } });

  const loadCrds = async (paths: string[]): Promise<void> => {
    for (const crd of readCrdFiles(paths)) {
      const name = String(metaOf(crd).name);
      const scope = internal("customresourcedefinitions", "apiextensions.k8s.io");
      const existing = api.store.get("apiextensions.k8s.io", "customresourcedefinitions", "", name);
      try {
        if (existing === undefined) await create(withoutAdmission, scope, crd);
        else {
          const next: KubeObject = { ...crd, metadata: { ...metaOf(crd), resourceVersion: metaOf(existing).resourceVersion } };
          await update(withoutAdmission, { ...scope, name }, next);
        }
      } catch (e) {
        if (e instanceof KubeStatusError) throw new Error(`loadCrds: ${name}: ${e.status.message}`);
        throw e;
      }
    }
  };
  if (options.crds !== undefined) await loadCrds(options.crds);

  let caPem: string | undefined;
  let server: Server;
  const handler = restHandler({
    api,
    faults,
    requests,
    watches,
    tokens: options.tokens ?? {},
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
    serverAddress: () => {
      const a = server.address() as AddressInfo;
      return `127.0.0.1:${a.port}`;
    },
  });
  if (options.tls === true) {
    const ca = await issueCa({ commonName: "kube-emulator-ca" });
    const serving = await issueServingCert(ca, { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
    caPem = ca.certPem;
    server = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, handler);
  } else server = createHttpServer(handler);
  // Every connection, to end them at stop: clients keep idle connections open (keep-alive), and Deno's
  // closeAllConnections does not reach all of them, so close() would wait for ever.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${options.tls === true ? "https" : "http"}://127.0.0.1:${port}`;

  let caFile: string | undefined;
  const caPath = (): string | undefined => {
    if (caPem === undefined) return undefined;
    if (caFile === undefined) {
      caFile = join(tempDir(), "ca.crt");
      writeFileSync(caFile, caPem);
    }
    return caFile;
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    watches.closeAll();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    });
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  };

  const emulator: KubeEmulator = {
    url,
    loadCrds,
    async kubeconfigPath() {
      const cluster: Record<string, string | boolean> = { server: url };
      if (caPem !== undefined) cluster["certificate-authority-data"] = Buffer.from(caPem).toString("base64");
      // client-node refuses http:// servers unless TLS verification is "skipped" (there is no TLS to verify).
      else cluster["insecure-skip-tls-verify"] = true;
      const path = join(tempDir(), "kubeconfig");
      const config = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "emulator", cluster }],
        users: [{ name: "emulator", user: {} }],
        contexts: [{ name: "emulator", context: { cluster: "emulator", user: "emulator", namespace: "default" } }],
        "current-context": "emulator",
      };
      writeFileSync(path, dump(config));
      return path;
    },
    kubectlArgs() {
      // A token (any; unknown tokens act as system:admin) keeps kubectl from prompting for a username over HTTPS.
      const args = ["--kubeconfig=/dev/null", `--server=${url}`, `--cache-dir=${tempDir()}`, "--token=kube-emulator"];
      const ca = caPath();
      if (ca !== undefined) args.push(`--certificate-authority=${ca}`);
      return args;
    },
    faults,
    requests,
    setAdmission(fn) {
      api.admission = fn;
    },
    objects: (group, resource, namespace) => api.store.list(group, resource, namespace),
    servedVersions: (group, resource) => api.registry.versionsOf(group, resource).map((d) => d.version),
    compact: () => api.store.compact(),
    revision: () => api.store.revision,
    stop,
    [Symbol.asyncDispose]: stop,
  };
  if (caPem !== undefined) emulator.caPem = caPem;
  // Stored Validating/MutatingWebhookConfigurations take effect, as in kube-apiserver (webhooks with clientConfig.url
  // work as is; call enableAdmission again with resolveService for service references, or setAdmission(undefined)).
  enableAdmission(emulator);
  return emulator;
}
