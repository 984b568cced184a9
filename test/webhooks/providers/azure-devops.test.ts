import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { azureDevops, azureSshUrl } from "../../../src/webhooks/providers/azure-devops.ts";
import { delivery, fixture } from "../../support/webhook-fixtures.ts";

const SECRET = { token: "s3cr3t", username: "fluxgate", password: "hunter2" };
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
const headers = (extra: Record<string, string> = {}) => ({
  "content-type": "application/json; charset=utf-8",
  authorization: basic(SECRET.username, SECRET.password),
  ...extra,
});
type Json = Record<string, unknown>;
const json = () => JSON.parse(new TextDecoder().decode(fixture("azure-devops/git.push.json"))) as Json & { resource: Json & { repository: Json } };
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const EVENT_ID = "03c164c2-8912-4d5e-8009-3707d5f83734";
const REPO = {
  urls: ["https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_git/Fabrikam-Fiber-Git", "git@ssh.dev.azure.com:v3/fabrikam-fiber-inc/DefaultCollection/Fabrikam-Fiber-Git"],
  key: "dev.azure.com/fabrikam-fiber-inc/defaultcollection/_git/fabrikam-fiber-git",
};
const now = new Date();

describe("Azure DevOps provider", () => {
  it("normalises the git.push fixture to the branch and its commit, keyed by the event id", () => {
    const d = delivery(headers(), fixture("azure-devops/git.push.json"));
    assert.deepEqual(azureDevops.authenticate(d, SECRET, now), { ok: true });
    assert.deepEqual(azureDevops.classify(d), {
      type: "changes",
      eventType: "git.push",
      deliveryId: EVENT_ID,
      changes: [{ kind: "git", git: { ...REPO, ref: "refs/heads/main", branch: "main", commit: "33b55f7cb7e7e245323987634f960cf4a6e6bc74" }, deleted: false }],
    });
  });

  it("turns several ref updates into several drafts, a zero newObjectId into a deletion, and prefers a given sshUrl", () => {
    const body = json();
    body.resource.refUpdates = [
      { name: "refs/tags/v3.1.0", oldObjectId: "0000000000000000000000000000000000000000", newObjectId: "33b55f7cb7e7e245323987634f960cf4a6e6bc74" },
      { name: "refs/heads/old", oldObjectId: "aad331d8d3b131fa9ae03cf5e53965b51942618a", newObjectId: "0000000000000000000000000000000000000000" },
    ];
    body.resource.repository = {
      ...body.resource.repository,
      remoteUrl: "https://fabrikam@dev.azure.com/fabrikam/Fiber/_git/app",
      sshUrl: "git@ssh.dev.azure.com:v3/fabrikam/Fiber/app",
    };
    const urls = ["https://fabrikam@dev.azure.com/fabrikam/Fiber/_git/app", "git@ssh.dev.azure.com:v3/fabrikam/Fiber/app"];
    assert.deepEqual(azureDevops.classify(delivery(headers(), bytes(body))), {
      type: "changes",
      eventType: "git.push",
      deliveryId: EVENT_ID,
      changes: [
        { kind: "git", git: { urls, key: "dev.azure.com/fabrikam/fiber/_git/app", ref: "refs/tags/v3.1.0", tag: "v3.1.0", commit: "33b55f7cb7e7e245323987634f960cf4a6e6bc74" }, deleted: false },
        { kind: "git", git: { urls, key: "dev.azure.com/fabrikam/fiber/_git/app", ref: "refs/heads/old", branch: "old" }, deleted: true },
      ],
    });
  });

  it("derives the SSH clone URL Azure DevOps shows from the https remote URL", () => {
    assert.equal(azureSshUrl("https://dev.azure.com/org/Project/_git/repo"), "git@ssh.dev.azure.com:v3/org/Project/repo");
    assert.equal(azureSshUrl("https://org@dev.azure.com/org/My%20Project/_git/repo"), "git@ssh.dev.azure.com:v3/org/My%20Project/repo");
    assert.equal(azureSshUrl("https://dev.azure.com/org/_git/repo"), "git@ssh.dev.azure.com:v3/org/repo/repo");
    assert.equal(azureSshUrl("https://org.visualstudio.com/DefaultCollection/Project/_git/repo"), "org@vs-ssh.visualstudio.com:v3/org/Project/repo");
    assert.equal(azureSshUrl("https://org.visualstudio.com/Project/_git/repo"), "org@vs-ssh.visualstudio.com:v3/org/Project/repo");
    assert.equal(azureSshUrl("https://tfs.example.com/tfs/DefaultCollection/Project/_git/repo"), undefined);
  });

  it("ignores other service-hook events, saying why", () => {
    const body = bytes({ id: "a0b1c2d3", eventType: "git.pullrequest.created", publisherId: "tfs", resource: {} });
    assert.deepEqual(azureDevops.classify(delivery(headers(), body)), {
      type: "ignored",
      eventType: "git.pullrequest.created",
      deliveryId: "a0b1c2d3",
      reason: "Azure DevOps event git.pullrequest.created does not change a source",
    });
  });

  it("requires HTTP Basic: 401 without Authorization, 403 for a wrong or one-character-off password or another scheme", () => {
    const body = fixture("azure-devops/git.push.json");
    assert.deepEqual(azureDevops.secretKeys, ["username", "password"]);
    assert.deepEqual(azureDevops.authenticate(delivery({ "content-type": "application/json" }, body), SECRET, now), {
      ok: false,
      status: 401,
      reason: "no Authorization header: set Basic authentication on the Azure DevOps service hook to the receiver Secret's username and password",
    });
    const wrong = { ok: false, status: 403, reason: "Basic credentials do not match the receiver Secret's username and password" };
    assert.deepEqual(azureDevops.authenticate(delivery(headers(), body), { ...SECRET, password: "other" }, now), wrong);
    // No signature covers the body: the credentials are what a flipped byte can break.
    assert.deepEqual(azureDevops.authenticate(delivery(headers({ authorization: basic("fluxgate", "hunter3") }), body), SECRET, now), wrong);
    assert.deepEqual(azureDevops.authenticate(delivery(headers({ authorization: "Bearer abc" }), body), SECRET, now), {
      ok: false,
      status: 403,
      reason: "Authorization is not HTTP Basic: set Basic authentication on the Azure DevOps service hook",
    });
    assert.deepEqual(azureDevops.authenticate(delivery(headers(), body), { token: "s3cr3t" }, now), {
      ok: false,
      status: 403,
      reason: "the receiver's Secret has no username and password: Azure DevOps deliveries are checked with HTTP Basic credentials",
    });
  });

  it("answers 400 naming the field for a malformed body, with the setting to change when refUpdates are stripped", () => {
    const minimal = json();
    delete minimal.resource.refUpdates;
    assert.throws(() => azureDevops.classify(delivery(headers(), bytes(minimal))), {
      name: "RequestError",
      status: 400,
      reason: "MalformedPayload",
      message: 'Azure DevOps git.push payload: resource.refUpdates: missing: set "Resource details to send" to All on the service hook',
    });
    const { id: _, ...noId } = json();
    assert.throws(() => azureDevops.classify(delivery(headers(), bytes(noId))), {
      status: 400,
      message: "Azure DevOps payload: id: Invalid input: expected string, received undefined",
    });
    const badUrl = json();
    badUrl.resource.repository = { remoteUrl: "Fabrikam-Fiber-Git" };
    assert.throws(() => azureDevops.classify(delivery(headers(), bytes(badUrl))), {
      status: 400,
      message: 'resource.repository.remoteUrl is not a repository URL: "Fabrikam-Fiber-Git"',
    });
  });
});
