/**
 * Receivers as the configuration file declares them. A receiver's path is Flux's (`/hook/` + sha256 of token, name
 * and namespace), so a Flux `Receiver` moves to Fluxgate without touching the Git host or registry.
 */
import { z } from "zod";
import { PROVIDER_NAMES } from "../events/change-event.ts";

/** Flux `Receiver` `spec.type` values (notification.toolkit.fluxcd.io/v1). */
export const FLUX_RECEIVER_TYPES = ["generic", "generic-hmac", "generic-oidc", "github", "gitlab", "bitbucket", "harbor", "dockerhub", "quay", "gcr", "nexus", "acr", "cdevents"] as const;

const RECEIVER_TYPES = [...new Set<string>([...PROVIDER_NAMES, ...FLUX_RECEIVER_TYPES])].sort();

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "expected a Kubernetes name: lowercase letters, digits and '-', at most 63");

/** Where a receiver's secret comes from; exactly one source. */
export const secretSource = z.union([
  /** A file holding the token (one trailing newline is ignored). */
  z.strictObject({ file: z.string().min(1) }),
  /** A directory with one file per key, as a mounted Kubernetes Secret: `token`, and e.g. `username`, `password`. */
  z.strictObject({ dir: z.string().min(1) }),
  /** An environment variable holding the token. */
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name") }),
], { error: "expected exactly one of {file: <path>}, {dir: <path>} or {env: <VARIABLE>}" });

export const receiverConfig = z.strictObject({
  name: dnsLabel,
  namespace: dnsLabel.default("flux-system"),
  /** A provider (`github`, `gitea`, `azure-devops`, …) or a Flux receiver type (`github` also serves Gitea/Forgejo). */
  type: z.enum(RECEIVER_TYPES as [string, ...string[]]),
  secret: secretSource,
  /** Provider event names to accept (`push`, `Tag Push Hook`, …); empty: all. Others are answered 200, not published. */
  events: z.array(z.string().min(1)).default([]),
  /**
   * Globs over branch and tag names (`main`, `release/*`, `v*`), or over full refs when they start with `refs/`;
   * for image events, over the tag. Empty: every ref.
   */
  refs: z.array(z.string().min(1)).default([]),
  /** Publish deleted branches, tags and images too (by default they are acknowledged and dropped). */
  deletions: z.boolean().default(false),
  /** Answer 503 and publish nothing, like a suspended Flux Receiver. */
  suspend: z.boolean().default(false),
});

export type ReceiverConfig = z.output<typeof receiverConfig>;
export type SecretSource = z.output<typeof secretSource>;
