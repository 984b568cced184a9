/**
 * Azure DevOps service hooks ("Web Hooks" consumer): `git.push`, one delivery per push with every moved ref in
 * `resource.refUpdates` (branches and tags alike). No signature exists; the hook's HTTP Basic username and password
 * are the credential, required here (the receiver Secret's `username`/`password`). Flux has no Azure DevOps type
 * (its users fall back to `generic`, which checks nothing), so this is a Fluxgate-only receiver type, `azure-devops`.
 */
import { z } from "zod";
import { jsonBody, payload, ZERO_SHA } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { basicAuthMatches } from "../signature.ts";
import { gitDraft, objectId } from "./git-draft.ts";

const envelope = z.object({ id: z.string().min(1), eventType: z.string().min(1) });

const pushPayload = z.object({
  resource: z.object({
    refUpdates: z.array(z.object({ name: z.string().min(1), newObjectId: objectId }), {
      // "Resource details to send: Minimal/None" strips them: say which setting to change.
      error: (issue) => (issue.input === undefined ? 'missing: set "Resource details to send" to All on the service hook' : undefined),
    }),
    repository: z.object({ remoteUrl: z.string().min(1), sshUrl: z.string().min(1).optional() }),
  }),
});

/**
 * The SSH clone URL Azure DevOps shows for an https remote URL, for payloads that do not carry `sshUrl`:
 * `https://dev.azure.com/{org}/{project}/_git/{repo}` → `git@ssh.dev.azure.com:v3/{org}/{project}/{repo}`,
 * `https://{org}.visualstudio.com/[DefaultCollection/]{project}/_git/{repo}` → `{org}@vs-ssh.visualstudio.com:v3/{org}/{project}/{repo}`.
 * A URL without a project segment names a project called like the repository. Undefined for other hosts
 * (Azure DevOps Server keeps the https path in its SSH URLs, so the key already matches).
 */
export function azureSshUrl(remoteUrl: string): string | undefined {
  let u: URL;
  try {
    u = new URL(remoteUrl);
  } catch {
    return undefined;
  }
  const parts = u.pathname.split("/").filter((p) => p !== "");
  const git = parts.indexOf("_git");
  const repo = parts[git + 1];
  if (git < 0 || repo === undefined || git + 2 !== parts.length) return undefined;
  const host = u.hostname.toLowerCase();
  if (host === "dev.azure.com") {
    const [org, project = repo] = parts.slice(0, git);
    if (org === undefined || git > 2) return undefined;
    return `git@ssh.dev.azure.com:v3/${org}/${project}/${repo}`;
  }
  const org = /^([^.]+)\.visualstudio\.com$/.exec(host)?.[1];
  if (org === undefined) return undefined;
  const before = parts.slice(0, git).filter((p) => p.toLowerCase() !== "defaultcollection");
  if (before.length > 1) return undefined;
  return `${org}@vs-ssh.visualstudio.com:v3/${org}/${before[0] ?? repo}/${repo}`;
}

export const azureDevops: Provider = {
  name: "azure-devops",
  fluxTypes: [],
  secretKeys: ["username", "password"],

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    const { username, password } = secret;
    if (username === undefined || username === "" || password === undefined) {
      return { ok: false, status: 403, reason: "the receiver's Secret has no username and password: Azure DevOps deliveries are checked with HTTP Basic credentials" };
    }
    const header = d.headers.get("authorization");
    if (header === null) return { ok: false, status: 401, reason: "no Authorization header: set Basic authentication on the Azure DevOps service hook to the receiver Secret's username and password" };
    if (!/^Basic\s/i.test(header)) return { ok: false, status: 403, reason: "Authorization is not HTTP Basic: set Basic authentication on the Azure DevOps service hook" };
    if (!basicAuthMatches(header, username, password)) return { ok: false, status: 403, reason: "Basic credentials do not match the receiver Secret's username and password" };
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const json = jsonBody(d.body);
    const { id: deliveryId, eventType } = payload(envelope, json, "Azure DevOps");
    if (eventType !== "git.push") return { type: "ignored", eventType, deliveryId, reason: `Azure DevOps event ${eventType} does not change a source` };
    const { refUpdates, repository } = payload(pushPayload, json, "Azure DevOps git.push").resource;
    const urls = [repository.remoteUrl, repository.sshUrl ?? azureSshUrl(repository.remoteUrl)];
    const changes = refUpdates.map((r, i) => {
      const deleted = ZERO_SHA.test(r.newObjectId);
      return gitDraft({ urls, urlField: "resource.repository.remoteUrl", ref: r.name, refField: `resource.refUpdates.${i}.name`, commit: r.newObjectId, deleted });
    });
    if (changes.length === 0) return { type: "ignored", eventType, deliveryId, reason: "Azure DevOps git.push without ref updates" };
    return { type: "changes", eventType, deliveryId, changes };
  },
};
