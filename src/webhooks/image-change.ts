/**
 * Registry payloads name images as references (`harbor.example.com/library/app:1.2.3`,
 * `…/img@sha256:…`); this turns one into the image part of a change draft, with the comparison key, and refuses
 * (400, naming the payload field) what is not an image reference or not a digest.
 */
import { z } from "zod";
import { imageChange, type ChangeDraft, type ImageChange } from "../events/change-event.ts";
import { RequestError } from "../errors.ts";
import { imageKey } from "../flux/repo-url.ts";

/** The OCI digest grammar the ChangeEvent schema enforces. */
const DIGEST = imageChange.shape.digest.unwrap();

/** A payload field that carries a digest: the 400 then names that field. */
export const digestSchema = z.string().refine((v) => DIGEST.safeParse(v).success, "is not a digest (algorithm:hex)");

/**
 * Splits `registry/path[:tag][@digest]` into its parts; the repository is lowercased (OCI repository names are
 * lowercase; registry hosts are case-insensitive). Undefined when nothing is left of the repository.
 * @example splitImageReference("Harbor.dev/library/app:1.2@sha256:ab…") // { repository: "harbor.dev/library/app", tag: "1.2", digest: "sha256:ab…" }
 */
export function splitImageReference(ref: string): { repository: string; tag?: string; digest?: string } | undefined {
  let rest = ref.trim().replace(/^oci:\/\//i, "");
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const repository = rest.replace(/\/+$/, "").toLowerCase();
  if (repository === "") return undefined;
  return { repository, ...(tag === undefined || tag === "" ? {} : { tag }), ...(digest === undefined || digest === "" ? {} : { digest }) };
}

/** What a registry says about one pushed (or deleted) image besides its repository. */
export type ImageDetails = { tag?: string | undefined; digest?: string | undefined };

/**
 * The image part of a change: repository and key from `repository` (a reference without tag/digest), tag and digest
 * as given. `field` names the payload field in the 400 message.
 */
export function imageOf(repository: string, details: ImageDetails, field: string): ImageChange {
  const key = imageKey(repository);
  if (key === undefined || repository.trim() === "") throw new RequestError(400, "MalformedPayload", `${field} is not an image reference: ${JSON.stringify(repository)}`);
  const { tag, digest } = details;
  if (digest !== undefined && !DIGEST.safeParse(digest).success) throw new RequestError(400, "MalformedPayload", `${field}: ${JSON.stringify(digest)} is not a digest (algorithm:hex)`);
  return { repository: repository.toLowerCase(), key, ...(tag === undefined || tag === "" ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/**
 * A change draft from a full reference (`host/path:tag@digest`); `details` fill in what the reference leaves out.
 * @example imageDraft("ghcr.io/org/app:1.0", "resource_url") // { kind: "oci", image: { repository: "ghcr.io/org/app", key: …, tag: "1.0" }, deleted: false }
 */
export function imageDraft(ref: string, field: string, options: ImageDetails & { kind?: "oci" | "helm"; deleted?: boolean } = {}): ChangeDraft {
  const parts = splitImageReference(ref);
  if (parts === undefined) throw new RequestError(400, "MalformedPayload", `${field} is not an image reference: ${JSON.stringify(ref)}`);
  const image = imageOf(parts.repository, { tag: parts.tag ?? options.tag, digest: parts.digest ?? options.digest }, field);
  return { kind: options.kind ?? "oci", image, deleted: options.deleted ?? false };
}
