/**
 * `fluxgate certs`: creates or rotates the self-managed CA and admission serving certificate in a directory and
 * prints what a script needs next (the `caBundle` for the webhook configurations, or a summary for a human).
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import type { CertSecrets } from "../../certs/cluster.ts";
import { CA_VALIDITY_DAYS, SERVING_VALIDITY_DAYS } from "../../certs/lifetimes.ts";
import type { EnsuredCerts } from "../../certs/store.ts";
import { parseDuration } from "../config/duration.ts";
import { UsageError } from "../errors.ts";
import { clusterAccess } from "../kube/cluster-access.ts";
import type { KubeClient } from "../kube/client.ts";
import { createLogger } from "../observability/logger.ts";
import type { Command, Io, ParsedArgs } from "./command.ts";
import { stringFlag } from "./command.ts";

const OUTPUTS = ["text", "json", "ca-bundle", "ca"] as const;
type Output = (typeof OUTPUTS)[number];

const DEFAULT_DIR = ".fluxgate/certs";
const DEFAULT_SERVICE = "fluxgate";
const DEFAULT_NAMESPACE = "fluxgate-system";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const DAY_MS = 86_400_000;

const help = `Usage: fluxgate certs [flags]

Creates the admission webhook's CA and serving certificate in a directory, or rotates them, and prints the
result. Run it again at any time: valid certificates are kept (nothing is written), a serving certificate that is
missing, broken, lacks a wanted name or is due for renewal is reissued with the same CA, and the CA itself is
replaced only when it is missing, broken or due (then caBundle in the webhook configurations must be updated).

Files in the directory (the names of a Kubernetes TLS Secret): ca.crt, ca.key, tls.crt, tls.key; keys mode 0600.
The serving certificate (ECDSA P-256, ${SERVING_VALIDITY_DAYS} days, CA ${CA_VALIDITY_DAYS} days) names the Service as kube-apiserver calls it:
<service>, <service>.<namespace>, <service>.<namespace>.svc, <service>.<namespace>.svc.cluster.local,
plus localhost, 127.0.0.1 and ::1 and anything given with --dns/--ip.
A certificate is renewed when less than a third of its lifetime is left (cert-manager's rule), or earlier with
--renew-before.

Flags:
  --dir <path>            directory of the files (default ${DEFAULT_DIR}, relative to the working directory)
  --service <name>        Service name (default ${DEFAULT_SERVICE})
  --namespace <ns>        Service namespace (default ${DEFAULT_NAMESPACE})
  --dns <name>            extra DNS name for the serving certificate; repeatable
  --ip <addr>             extra IP address for the serving certificate; repeatable
  --output <format>       text (default): what was issued or kept, paths, names, expiry
                          json: the same as one JSON object
                          ca-bundle: only the base64 caBundle value for the webhook configurations
                          ca: only the CA certificate (PEM)
  --renew-before <dur>    renew at least this long before expiry, e.g. 720h, 30d or 1d12h;
                          must be shorter than ${SERVING_VALIDITY_DAYS}d
  --force                 reissue the serving certificate now (the CA is kept)

In a cluster (the self-signed overlay of deploy/ runs this as a Job and a daily CronJob):
  --secret <name>         keep the certificates in Secrets of --namespace: <name> (kubernetes.io/tls: tls.crt,
                          tls.key, ca.crt; what the admission Pods mount) and --ca-secret (the CA and its key).
                          They are read into --dir first and written back only when something changed
  --ca-secret <name>      the CA Secret (default <secret>-ca)
  --patch-webhooks <name> write the caBundle into every webhook of the Validating- and MutatingWebhookConfiguration
                          <name>; repeatable. After a CA rotation the old CA stays in the bundle until it expires
  --kubeconfig <file>     cluster to use (default: KUBECONFIG, the in-cluster service account, ~/.kube/config)

Examples:
  fluxgate certs
  fluxgate certs --dir /var/run/fluxgate/certs --namespace flux-gate --dns fluxgate.example.com --ip 10.0.0.5
  kubectl patch validatingwebhookconfiguration fluxgate --type=json \\
    -p "[{\\"op\\":\\"replace\\",\\"path\\":\\"/webhooks/0/clientConfig/caBundle\\",\\"value\\":\\"$(fluxgate certs --output ca-bundle)\\"}]"
  kubectl -n fluxgate-system create secret tls fluxgate-serving \\
    --cert .fluxgate/certs/tls.crt --key .fluxgate/certs/tls.key --dry-run=client -o yaml | kubectl apply -f -
  fluxgate certs --renew-before 30d --output json
  fluxgate certs --dir /tmp/certs --secret fluxgate-serving --patch-webhooks fluxgate
`;

/**
 * The `fluxgate certs` verb.
 * @example await certsCommand.run({ values: { output: "ca-bundle" }, positionals: [] }, io) // prints "LS0tLS1CRUdJTi…"
 */
export const certsCommand: Command = {
  name: "certs",
  summary: "Create or rotate the admission webhook's CA and serving certificate",
  help,
  options: {
    dir: { type: "string" },
    service: { type: "string" },
    namespace: { type: "string" },
    dns: { type: "string", multiple: true },
    ip: { type: "string", multiple: true },
    output: { type: "string" },
    "renew-before": { type: "string" },
    force: { type: "boolean" },
    secret: { type: "string" },
    "ca-secret": { type: "string" },
    "patch-webhooks": { type: "string", multiple: true },
    kubeconfig: { type: "string" },
  },
  run: async (args: ParsedArgs, io: Io): Promise<number> => {
    const flags = parseFlags(args, io);
    // The X.509 code is loaded by this verb only, not by every `fluxgate` start (it is ~18 MiB of a server's RSS).
    const { bundleOf, patchWebhookCaBundles, previousCa, restoreFromSecrets, saveToSecrets } = await import("../../certs/cluster.ts");
    const { ensureCerts } = await import("../../certs/store.ts");
    const client = flags.secrets !== undefined || flags.patchWebhooks.length > 0 ? await kubeClient(flags, io) : undefined;
    const before = client !== undefined && flags.secrets !== undefined ? await restoreFromSecrets(client, flags.secrets, flags.dir) : undefined;
    const result = await ensureCerts(flags.dir, {
      service: flags.service,
      namespace: flags.namespace,
      extraDnsNames: ["localhost", ...flags.dns],
      extraIps: ["127.0.0.1", "::1", ...flags.ips],
      renewBeforeMs: flags.renewBeforeMs,
      force: flags.force,
    });
    // Scripts read stdout; a rotation still deserves a trace, and a new CA means caBundle must be patched again.
    if (flags.output !== "text" && result.issued !== "none") io.err(`fluxgate certs: issued ${result.issued} in ${flags.dir}: ${result.reason}\n`);
    const summary = await summarise(result, flags.renewBeforeMs);
    if (client !== undefined) {
      const previous = before === undefined ? undefined : previousCa(before, result, new Date());
      summary.caBundle = bundleOf(result.caPem, previous);
      if (flags.secrets !== undefined) {
        for (const w of await saveToSecrets(client, flags.secrets, flags.dir, previous)) {
          if (w.result !== "unchanged") io.err(`fluxgate certs: Secret ${flags.secrets.namespace}/${w.name} ${w.result}\n`);
        }
      }
      for (const name of flags.patchWebhooks) {
        for (const p of await patchWebhookCaBundles(client, name, summary.caBundle)) {
          if (p.result === "patched") io.err(`fluxgate certs: caBundle written into ${p.kind} ${p.name}\n`);
        }
      }
    }
    switch (flags.output) {
      case "ca-bundle":
        io.out(`${summary.caBundle}\n`);
        break;
      case "ca":
        io.out(result.caPem.endsWith("\n") ? result.caPem : `${result.caPem}\n`);
        break;
      case "json":
        io.out(`${JSON.stringify(summary, null, 2)}\n`);
        break;
      case "text":
        io.out(formatText(summary));
        break;
    }
    return 0;
  },
};

type CertsFlags = {
  dir: string;
  service: string;
  namespace: string;
  dns: string[];
  ips: string[];
  output: Output;
  renewBeforeMs: number;
  force: boolean;
  secrets?: CertSecrets;
  patchWebhooks: string[];
  kubeconfig?: string;
};

function parseFlags(args: ParsedArgs, io: Io): CertsFlags {
  const dirFlag = stringFlag(args, "dir") ?? DEFAULT_DIR;
  if (dirFlag === "") throw new UsageError("--dir: expected a directory path, got an empty string");
  const service = stringFlag(args, "service") ?? DEFAULT_SERVICE;
  const namespace = stringFlag(args, "namespace") ?? DEFAULT_NAMESPACE;
  for (const [flag, value] of [["--service", service], ["--namespace", namespace]] as const) {
    if (!DNS_LABEL.test(value)) {
      throw new UsageError(`${flag}: expected a Kubernetes name (lower-case letters, digits and "-", at most 63), got "${value}"`);
    }
  }
  const dns = listFlag(args, "dns").map((name) => {
    const lower = name.toLowerCase();
    if (lower.length > 253 || !DNS_NAME.test(lower)) throw new UsageError(`--dns: expected a DNS name like "fluxgate.example.com", got "${name}"`);
    return lower;
  });
  const ips = listFlag(args, "ip").map((ip) => {
    if (isIP(ip) === 0) throw new UsageError(`--ip: expected an IPv4 or IPv6 address like "10.0.0.5" or "fd00::5", got "${ip}"`);
    return ip;
  });
  const outputFlag = stringFlag(args, "output") ?? "text";
  if (!isOutput(outputFlag)) throw new UsageError(`--output: expected one of ${OUTPUTS.join(", ")}, got "${outputFlag}"`);
  const renewBeforeFlag = stringFlag(args, "renew-before");
  let renewBeforeMs = 0;
  if (renewBeforeFlag !== undefined) {
    const ms = parseDuration(renewBeforeFlag);
    if (ms === undefined) throw new UsageError(`--renew-before: expected a duration like 720h or 30d, got "${renewBeforeFlag}"`);
    if (ms >= SERVING_VALIDITY_DAYS * DAY_MS) {
      throw new UsageError(`--renew-before: ${renewBeforeFlag} is not shorter than the serving certificate's ${SERVING_VALIDITY_DAYS}d lifetime, so every run would reissue it`);
    }
    renewBeforeMs = ms;
  }
  const secret = stringFlag(args, "secret");
  const caSecret = stringFlag(args, "ca-secret");
  if (caSecret !== undefined && secret === undefined) throw new UsageError("--ca-secret: needs --secret (the serving certificate's Secret)");
  const patchWebhooks = listFlag(args, "patch-webhooks");
  for (const [flag, value] of [
    ["--secret", secret],
    ["--ca-secret", caSecret],
    ...patchWebhooks.map((w) => ["--patch-webhooks", w] as const),
  ] as const) {
    if (value !== undefined && (value.length > 253 || !DNS_NAME.test(value) || value.startsWith("*"))) {
      throw new UsageError(`${flag}: expected a Kubernetes object name (lower-case letters, digits, "-" and "."), got "${value}"`);
    }
  }
  const kubeconfig = stringFlag(args, "kubeconfig");
  if (kubeconfig === "") throw new UsageError("--kubeconfig: expected a file path, got an empty string");
  return {
    ...(secret === undefined ? {} : { secrets: { namespace, serving: secret, ca: caSecret ?? `${secret}-ca` } }),
    patchWebhooks,
    ...(kubeconfig === undefined ? {} : { kubeconfig: resolve(io.cwd, kubeconfig) }),
    dir: resolve(io.cwd, dirFlag),
    service,
    namespace,
    dns,
    ips,
    output: outputFlag,
    renewBeforeMs,
    force: args.values.force === true,
  };
}

/** A client for the cluster of `--kubeconfig` (or the usual lookup); its own log lines go to stderr at warn. */
async function kubeClient(flags: CertsFlags, io: Io): Promise<KubeClient> {
  const access = await clusterAccess({ mode: "on", ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }) }, io.env);
  if (access === undefined) throw new UsageError("--secret/--patch-webhooks: no cluster to use");
  const stderr = new Writable({
    write(chunk, _encoding, done) {
      io.err(String(chunk));
      done();
    },
  });
  // Loaded here, not at the top: every `fluxgate` command imports this verb, and the client library is heavy.
  const { createKubeClient } = await import("../kube/client.ts");
  return createKubeClient({ kubeConfig: access.kubeConfig, log: createLogger({ level: "warn", destination: stderr }), registry: new Registry(), fieldManager: "fluxgate-certs" });
}

/** What both text and JSON output show; JSON keys are the field names. */
type CertsSummary = {
  issued: EnsuredCerts["issued"];
  reason: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  subject: string;
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: string;
  notAfter: string;
  renewAfter: string;
  caSubject: string;
  caNotAfter: string;
  caBundle: string;
};

async function summarise(result: EnsuredCerts, renewBeforeMs: number): Promise<CertsSummary> {
  const { describeCert, renewalTime } = await import("../../certs/issue.ts");
  const { caBundle } = await import("../../certs/store.ts");
  const cert = describeCert(result.certPem);
  const ca = describeCert(result.caPem);
  return {
    issued: result.issued,
    reason: result.reason,
    caFile: result.caFile,
    certFile: result.certFile,
    keyFile: result.keyFile,
    subject: cert.subject,
    dnsNames: cert.dnsNames,
    ipAddresses: cert.ipAddresses,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    renewAfter: renewalTime(cert, renewBeforeMs).toISOString(),
    caSubject: ca.subject,
    caNotAfter: ca.notAfter.toISOString(),
    caBundle: caBundle(result.caPem),
  };
}

const HEADLINES: Record<EnsuredCerts["issued"], string> = {
  none: "Kept the existing certificates",
  serving: "Issued a new serving certificate (CA kept, caBundle unchanged)",
  "ca+serving": "Issued a new CA and serving certificate",
};

function formatText(s: CertsSummary): string {
  const lines = [
    `${HEADLINES[s.issued]}: ${s.reason}.`,
    `  CA         ${s.caFile}  ${s.caSubject}, valid until ${s.caNotAfter}`,
    `  cert       ${s.certFile}  ${s.subject}, valid until ${s.notAfter}, renewal from ${s.renewAfter}`,
    `  key        ${s.keyFile}`,
    `  DNS names  ${s.dnsNames.join(", ")}`,
    `  IPs        ${s.ipAddresses.join(", ")}`,
  ];
  if (s.issued === "ca+serving") {
    lines.push("The CA is new: put it into the webhook configurations' caBundle (fluxgate certs --output ca-bundle).");
  }
  return `${lines.join("\n")}\n`;
}

function listFlag(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

const isOutput = (v: string): v is Output => (OUTPUTS as readonly string[]).includes(v);
