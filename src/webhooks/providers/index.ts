/** Every provider, in one array: a new provider is one file in this folder and one entry here. */
import type { Provider } from "../provider.ts";
import { github } from "./github.ts";

export const PROVIDERS: readonly Provider[] = [github];
