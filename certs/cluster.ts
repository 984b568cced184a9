/**
 * The self-managed certificates in a cluster, as Gatekeeper's cert-controller keeps them: two Secrets are the source
 * of truth (the serving pair, which the admission Pods mount, and the CA with its key, which no Pod mounts), and the
 * CA goes into `caBundle` of the webhook configurations. `fluxgate certs --secret … --patch-webhooks …` restores the
 * Secrets into its directory, lets `ensureCerts` keep or rotate, writes back what changed and patches the caBundle.
 *
 * When the CA itself is replaced, the old one stays in the bundle (and in the CA Secret as `previous-ca.crt`) until it
 * expires: the Pods pick up the new serving certificate only when kubelet refreshes the mounted Secret, and until then
 * kube-apiserver must still trust the certificate they serve.
 */
import { Buffer } from "node:buffer";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { FluxgateError, isKubeNotFound } from "../src/errors.ts";
import type { KubeClient } from "../src/kube/client.ts";
import type { KubeObject } from "../src/kube/object.ts";
import type { ResourceType } from "../src/kube/resource.ts";
import { describeCert } from "./issue.ts";
import { caBundle, CERT_FILE_NAMES } from "./store.ts";
import type { EnsuredCerts } from "./store.ts";

const SECRETS: ResourceType = { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true };
const WEBHOOK_CONFIGURATIONS: readonly ResourceType[] = [
  { group: "admissionregistration.k8s.io", version: "v1", kind: "ValidatingWebhookConfiguration", plural: "validatingwebhookconfigurations", namespaced: false },
  { group: "admissionregistration.k8s.io", version: "v1", kind: "MutatingWebhookConfiguration", plural: "mutatingwebhookconfigurations", namespaced: false },
];

/** The key of the replaced CA in the CA Secret, kept in the bundle until it expires. */
export const PREVIOUS_CA_KEY = "previous-ca.crt";

/** Where the certificates live in the cluster. */
export type CertSecrets = {
  namespace: string;
  /** `kubernetes.io/tls` Secret with `tls.crt`, `tls.key` and `ca.crt`: what the admission Pods mount. */
  serving: string;
  /** Opaque Secret with `ca.crt`, `ca.key` and, after a CA rotation, `previous-ca.crt`. */
  ca: string;
};

const secretSchema = z.looseObject({ data: z.record(z.string(), z.string()).optional() });

/** A Secret's data decoded, or undefined when it does not exist. */
async function readSecret(client: KubeClient, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  try {
    const s = secretSchema.parse(await client.get(SECRETS, namespace, name));
    return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
  } catch (e) {
    if (isKubeNotFound(e)) return undefined;
    throw e;
  }
}

/** What the Secrets held before this run. */
export type RestoredCerts = {
  /** Whether any of the two Secrets existed. */
  found: boolean;
  /** The CA PEM the Secrets held (to tell a CA rotation), and the previous CA they still carried. */
  caPem?: string;
  previousCaPem?: string;
};

/**
 * Writes the files the Secrets hold into `dir` (keys 0600), so `ensureCerts(dir)` judges what the cluster has.
 * @example const before = await restoreFromSecrets(client, { namespace: "fluxgate-system", serving: "fluxgate-serving", ca: "fluxgate-serving-ca" }, dir)
 */
export async function restoreFromSecrets(client: KubeClient, secrets: CertSecrets, dir: string): Promise<RestoredCerts> {
  const [serving, ca] = await Promise.all([readSecret(client, secrets.namespace, secrets.serving), readSecret(client, secrets.namespace, secrets.ca)]);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files: Array<[string, string | undefined, number]> = [
    [CERT_FILE_NAMES.ca, ca?.[CERT_FILE_NAMES.ca], 0o644],
    [CERT_FILE_NAMES.caKey, ca?.[CERT_FILE_NAMES.caKey], 0o600],
    [CERT_FILE_NAMES.cert, serving?.[CERT_FILE_NAMES.cert], 0o644],
    [CERT_FILE_NAMES.key, serving?.[CERT_FILE_NAMES.key], 0o600],
  ];
  for (const [name, text, mode] of files) if (text !== undefined) await writeFile(join(dir, name), text, { mode });
  const restored: RestoredCerts = { found: serving !== undefined || ca !== undefined };
  const caPem = ca?.[CERT_FILE_NAMES.ca];
  const previous = ca?.[PREVIOUS_CA_KEY];
  if (caPem !== undefined) restored.caPem = caPem;
  if (previous !== undefined) restored.previousCaPem = previous;
  return restored;
}

/** The CA that must stay trusted besides the current one, if any: the one just replaced, or the one kept before. */
export function previousCa(before: RestoredCerts, ensured: EnsuredCerts, now: Date): string | undefined {
  const candidate = before.caPem !== undefined && before.caPem !== ensured.caPem ? before.caPem : before.previousCaPem;
  if (candidate === undefined || candidate === ensured.caPem) return undefined;
  try {
    return describeCert(candidate).notAfter.getTime() > now.getTime() ? candidate : undefined;
  } catch {
    // A broken old CA (the reason it was replaced, maybe) trusts nothing.
    return undefined;
  }
}

/**
 * The `caBundle` value: the CA, then the previous one while it is still needed.
 * @example bundleOf(ensured.caPem, undefined) === caBundle(ensured.caPem)
 */
export function bundleOf(caPem: string, previousCaPem: string | undefined): string {
  const pem = (p: string) => (p.endsWith("\n") ? p : `${p}\n`);
  return caBundle(previousCaPem === undefined ? caPem : pem(caPem) + pem(previousCaPem));
}

/** What a write did, for the command's report. */
export type SecretWrite = { name: string; result: "created" | "updated" | "unchanged" };

/** Writes the directory's certificates into the Secrets, each only when its content differs. */
export async function saveToSecrets(client: KubeClient, secrets: CertSecrets, dir: string, previousCaPem: string | undefined): Promise<SecretWrite[]> {
  const read = (name: string) => readFile(join(dir, name), "utf8");
  const [ca, caKey, cert, key] = await Promise.all([read(CERT_FILE_NAMES.ca), read(CERT_FILE_NAMES.caKey), read(CERT_FILE_NAMES.cert), read(CERT_FILE_NAMES.key)]);
  const caData: Record<string, string> = { [CERT_FILE_NAMES.ca]: ca, [CERT_FILE_NAMES.caKey]: caKey };
  if (previousCaPem !== undefined) caData[PREVIOUS_CA_KEY] = previousCaPem;
  // The CA first: once the serving Secret changes, Pods may serve the new certificate, whose CA must be recorded.
  return [
    await writeSecret(client, secrets.namespace, secrets.ca, "Opaque", caData),
    await writeSecret(client, secrets.namespace, secrets.serving, "kubernetes.io/tls", { [CERT_FILE_NAMES.cert]: cert, [CERT_FILE_NAMES.key]: key, [CERT_FILE_NAMES.ca]: ca }),
  ];
}

const LABELS = { "app.kubernetes.io/name": "fluxgate", "app.kubernetes.io/managed-by": "fluxgate-certs" };

async function writeSecret(client: KubeClient, namespace: string, name: string, type: string, data: Record<string, string>): Promise<SecretWrite> {
  const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")]));
  const existing = await readSecret(client, namespace, name);
  if (existing === undefined) {
    await client.create(SECRETS, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace, labels: LABELS }, type, data: encoded });
    return { name, result: "created" };
  }
  if (sameData(existing, data)) return { name, result: "unchanged" };
  await client.modify(SECRETS, namespace, name, (current) => ({ ...current, data: encoded }));
  return { name, result: "updated" };
}

const sameData = (a: Record<string, string>, b: Record<string, string>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

const webhookConfigurationSchema = z.looseObject({
  webhooks: z.array(z.looseObject({ clientConfig: z.looseObject({ caBundle: z.string().optional() }).optional() })).optional(),
});

/** What patching one configuration did. */
export type CaBundlePatch = { kind: string; name: string; result: "patched" | "unchanged" | "missing" };

/**
 * Sets `clientConfig.caBundle` of every webhook in the Validating- and MutatingWebhookConfiguration named `name`
 * (read-modify-write, retried on conflict; nothing is written when it is already right). Throws when neither exists.
 * @example await patchWebhookCaBundles(client, "fluxgate", bundleOf(caPem, undefined))
 */
export async function patchWebhookCaBundles(client: KubeClient, name: string, bundle: string): Promise<CaBundlePatch[]> {
  const results: CaBundlePatch[] = [];
  for (const type of WEBHOOK_CONFIGURATIONS) {
    let changed = false;
    try {
      await client.modify(type, undefined, name, (current: KubeObject) => {
        const parsed = webhookConfigurationSchema.parse(current);
        const webhooks = parsed.webhooks ?? [];
        if (webhooks.every((w) => w.clientConfig?.caBundle === bundle)) return undefined;
        changed = true;
        return { ...current, webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: bundle } })) };
      });
      results.push({ kind: type.kind, name, result: changed ? "patched" : "unchanged" });
    } catch (e) {
      if (!isKubeNotFound(e)) throw e;
      results.push({ kind: type.kind, name, result: "missing" });
    }
  }
  if (results.every((r) => r.result === "missing")) {
    throw new FluxgateError("WebhookConfigurationNotFound", `--patch-webhooks: there is no ValidatingWebhookConfiguration or MutatingWebhookConfiguration named "${name}"`);
  }
  return results;
}
