/** Every provider, in one array: a new provider is one file in this folder and one entry here. */
import type { Provider } from "../provider.ts";
import { acr } from "./acr.ts";
import { azureDevops } from "./azure-devops.ts";
import { bitbucketCloud } from "./bitbucket-cloud.ts";
import { bitbucketServer } from "./bitbucket-server.ts";
import { cdevents } from "./cdevents.ts";
import { cloudevents } from "./cloudevents.ts";
import { dockerhub } from "./dockerhub.ts";
import { forgejo } from "./forgejo.ts";
import { gar } from "./gar.ts";
import { generic } from "./generic.ts";
import { genericHmac } from "./generic-hmac.ts";
import { gitea } from "./gitea.ts";
import { github } from "./github.ts";
import { gitlab } from "./gitlab.ts";
import { gogs } from "./gogs.ts";
import { harbor } from "./harbor.ts";
import { nexus } from "./nexus.ts";
import { quay } from "./quay.ts";

export const PROVIDERS: readonly Provider[] = [
  // Git hosts. Gitea, Forgejo and Gogs also answer Flux `github` receivers, after GitHub, by their own headers.
  github, gitea, forgejo, gogs, gitlab, bitbucketCloud, bitbucketServer, azureDevops,
  // Container registries.
  dockerhub, harbor, quay, acr, nexus, gar,
  // Event standards and Flux's generic receivers.
  cloudevents, cdevents, generic, genericHmac,
];
