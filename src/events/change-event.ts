/**
 * `ChangeEvent`: what a webhook delivery means, one shape for every Git host and registry. The receiver publishes
 * it to JetStream; the worker routes it to the Flux objects it concerns.
 *
 * Fields a reader does not know are dropped, not refused: during a rolling upgrade a newer receiver may publish
 * events with a field an older worker has never seen, and refusing them would lose accepted events.
 */
import { z } from "zod";

/** Every provider the receiver understands (one file each in src/webhooks/providers). */
export const PROVIDER_NAMES = [
  "github", "gitlab", "bitbucket-cloud", "bitbucket-server", "gitea", "forgejo", "gogs", "azure-devops",
  "dockerhub", "harbor", "quay", "acr", "nexus", "gar", "cloudevents", "cdevents", "generic", "generic-hmac",
] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/**
 * A provider name as events carry it. Any such name, not only `PROVIDER_NAMES`: an event from a newer receiver whose
 * provider this worker does not know still names its change (routing reads `git`/`image` and the receiver).
 */
export const providerName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "a provider name: lowercase letters, digits and dashes");

export const gitChange = z.object({
  /** Every clone URL the payload gives (https, ssh, scp forms). */
  urls: z.array(z.string().min(1)).min(1),
  /** `repoKey` of the first URL: what GitRepository `spec.url`s are compared with. */
  key: z.string().min(1),
  /** Full ref, `refs/heads/main` or `refs/tags/v1.2.3`. */
  ref: z.string().min(1),
  branch: z.string().min(1).optional(),
  tag: z.string().min(1).optional(),
  /** The commit the ref now points to; absent when the provider does not say (GitHub `create`) or on deletion. */
  commit: z.string().regex(/^[0-9a-f]{7,64}$/).optional(),
});

export const imageChange = z.object({
  /** Image repository without tag or digest, e.g. `ghcr.io/org/app`. */
  repository: z.string().min(1),
  /** `imageKey` of the repository. */
  key: z.string().min(1),
  tag: z.string().min(1).optional(),
  /** OCI digest grammar (`algorithm:encoded`); some providers send shortened example digests, so no fixed length. */
  digest: z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/).optional(),
});

export const changeEvent = z
  .object({
    /** Also the `Nats-Msg-Id`: the provider's delivery id (plus an index for multi-event deliveries), or a digest. */
    id: z.string().min(1).max(256),
    provider: providerName,
    receiver: z.object({ namespace: z.string().min(1), name: z.string().min(1) }),
    /** The provider's id of the delivery, when it sends one. */
    deliveryId: z.string().min(1).optional(),
    /** The provider's own event name: `push`, `Tag Push Hook`, `PUSH_ARTIFACT`, … */
    eventType: z.string().min(1),
    /**
     * `git`: a ref moved; `oci`/`helm`: an image or chart was pushed; `generic`: the delivery says nothing about a
     * source (Flux `generic` receivers), so it concerns every resource of its receiver.
     */
    kind: z.enum(["git", "oci", "helm", "generic"]),
    git: gitChange.optional(),
    image: imageChange.optional(),
    /** The ref or tag was deleted. */
    deleted: z.boolean(),
    receivedAt: z.iso.datetime(),
  })
  .refine((e) => (e.kind === "git") === (e.git !== undefined) && (e.kind === "oci" || e.kind === "helm") === (e.image !== undefined), {
    message: "a git event carries `git` and no `image`; an oci/helm event carries `image` and no `git`; a generic event neither",
  });

export type ChangeEvent = z.output<typeof changeEvent>;
export type GitChange = z.output<typeof gitChange>;
export type ImageChange = z.output<typeof imageChange>;

/** What a provider extracts from a delivery; the receiver adds id, provider, receiver and receivedAt. */
export type ChangeDraft =
  | { kind: "git"; git: GitChange; deleted: boolean }
  | { kind: "oci" | "helm"; image: ImageChange; deleted: boolean }
  | { kind: "generic"; deleted: false };
