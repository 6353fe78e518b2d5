// Integration tests: the client against the real local host, the real demo provider (rotation, reuse detection) and
// Azurite, all started here from their build outputs. Every test ends with the provider's reuse count at zero.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  InvalidClientError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  InvalidSessionError,
  ReauthRequiredError,
  createClient,
} from "../dist/index.js";
import { startStack } from "./support/local-stack.mjs";

let stack;
let client;

before(async () => {
  stack = await startStack({ logDir: process.env.FUNCTIONSAUTH_TEST_LOGS });
  client = createClient({ baseUrl: stack.baseUrl, functionKey: stack.functionKey, timeoutMs: 20_000 });
});

after(async () => {
  if (!stack) return;
  const { reusedRefreshTokens } = await stack.provider.statistics();
  await stack.stop();
  assert.equal(reusedRefreshTokens, 0, "the provider saw a refresh token presented twice");
});

const unixNow = () => Math.floor(Date.now() / 1000);

test("code form: registers, and the token it returns is accepted by the provider", async () => {
  const code = await stack.provider.authorize({ subject: "code-user" });

  const created = await client.registerSession({ provider: "demo", code: code.code, codeVerifier: code.codeVerifier, redirectUri: code.redirectUri });

  assert.match(created.session, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(created.tokenType, "Bearer");
  assert.ok(created.expiresAt > unixNow());
  assert.equal(typeof created.idToken, "string");
  const info = await stack.provider.userinfo(created.accessToken);
  assert.equal(info.status, 200);
  assert.equal(info.claims.sub, "code-user");

  const token = await client.getAccessToken(created.session, { minTtl: 60 });
  assert.equal(token.refreshed, false);
  assert.equal(token.accessToken, created.accessToken);
});

test("scope: a token of a narrower scope from the same session, and invalid_scope beyond the grant", async () => {
  const code = await stack.provider.authorize({ subject: "scoped-user" });
  const created = await client.registerSession({ provider: "demo", code: code.code, codeVerifier: code.codeVerifier, redirectUri: code.redirectUri });

  const email = await client.getAccessToken(created.session, { scope: "email" });
  const again = await client.getAccessToken(created.session, { scope: "email" });
  const refused = await client.getAccessToken(created.session, { scope: "email api" }).catch((e) => e);

  assert.equal(email.refreshed, true);
  assert.equal(email.scope, "email");
  assert.notEqual(email.accessToken, created.accessToken);
  assert.equal(JSON.parse(Buffer.from(email.accessToken.split(".")[1], "base64url")).scope, "email");
  assert.equal(again.refreshed, false);
  assert.equal(again.accessToken, email.accessToken);
  assert.ok(refused instanceof InvalidScopeError, `expected InvalidScopeError, got ${refused?.name}`);
  assert.equal((await client.getAccessToken(created.session)).accessToken, created.accessToken);
});

test("hand-over form: registers tokens the front end redeemed itself", async () => {
  const tokens = await stack.provider.redeem(await stack.provider.authorize({ subject: "handover-user" }));

  const created = await client.registerSession({
    provider: "demo",
    refreshToken: tokens.refresh_token,
    accessToken: tokens.access_token,
    expiresAt: unixNow() + tokens.expires_in,
    scope: tokens.scope,
  });

  assert.match(created.session, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(created.accessToken, tokens.access_token);
  assert.equal((await client.getAccessToken(created.session)).accessToken, tokens.access_token);
});

test("forced refresh: min_ttl above what the token has left refreshes once, and the new token works", async () => {
  const tokens = await stack.provider.redeem(await stack.provider.authorize({ subject: "refresh-user" }));
  const created = await client.registerSession({ provider: "demo", refreshToken: tokens.refresh_token, accessToken: tokens.access_token, expiresAt: unixNow() + tokens.expires_in });
  const before = await stack.provider.statistics();

  const refreshed = await client.getAccessToken(created.session, { minTtl: 3600 });
  const again = await client.getAccessToken(created.session, { minTtl: 3600 });

  assert.equal(refreshed.refreshed, true);
  assert.notEqual(refreshed.accessToken, tokens.access_token);
  assert.equal(again.refreshed, false, "a just-refreshed token is not refreshed again for min_ttl: no refresh loop");
  assert.equal(again.accessToken, refreshed.accessToken);
  assert.equal((await stack.provider.userinfo(refreshed.accessToken)).status, 200);
  const afterwards = await stack.provider.statistics();
  assert.equal(afterwards.refreshRequests - before.refreshRequests, 1);
});

test("revoke: 204, then the handle is an InvalidSessionError; revoking again is fine", async () => {
  const code = await stack.provider.authorize({ subject: "revoke-user" });
  const created = await client.registerSession({ provider: "demo", code: code.code, codeVerifier: code.codeVerifier, redirectUri: code.redirectUri });
  const before = await stack.provider.statistics();

  await client.revokeSession(created.session);

  const error = await client.getAccessToken(created.session).catch((e) => e);
  assert.ok(error instanceof InvalidSessionError, `got ${error?.name}`);
  assert.equal(error.status, 401);
  assert.equal(error.code, "invalid_session");
  assert.ok(!error.message.includes(created.session));
  await client.revokeSession(created.session);
  assert.ok((await stack.provider.statistics()).revocationRequests > before.revocationRequests, "revoked at the provider too");
});

test("grant revoked at the provider: the next refresh is a ReauthRequiredError", async () => {
  const tokens = await stack.provider.redeem(await stack.provider.authorize({ subject: "mallory" }));
  const created = await client.registerSession({ provider: "demo", refreshToken: tokens.refresh_token, accessToken: tokens.access_token, expiresAt: unixNow() + tokens.expires_in });

  await stack.provider.revokeGrants("mallory");

  await assert.rejects(client.getAccessToken(created.session, { minTtl: 3600 }), ReauthRequiredError);
  await assert.rejects(client.getAccessToken(created.session), ReauthRequiredError);
});

test("no refresh token issued (no offline_access): registration is an InvalidGrantError", async () => {
  const code = await stack.provider.authorize({ subject: "online-user", scope: "openid profile" });

  const error = await client.registerSession({ provider: "demo", code: code.code, codeVerifier: code.codeVerifier, redirectUri: code.redirectUri }).catch((e) => e);

  assert.ok(error instanceof InvalidGrantError, `got ${error?.name}: ${error?.message}`);
  assert.equal(error.status, 400);
});

test("a handle of the wrong shape is an InvalidRequestError; a well-formed unknown one an InvalidSessionError", async () => {
  await assert.rejects(client.getAccessToken("not-a-handle"), InvalidRequestError);
  await assert.rejects(client.getAccessToken("Qm7f3yXo9kq1Zp0cVbN2sLw8tRe4uYiA6hGjDkF5xMc"), InvalidSessionError);
});

test("a wrong function key is an InvalidClientError", async () => {
  const wrong = createClient({ baseUrl: stack.baseUrl, functionKey: "a-wrong-function-key-123" });

  await assert.rejects(wrong.getAccessToken("Qm7f3yXo9kq1Zp0cVbN2sLw8tRe4uYiA6hGjDkF5xMc"), InvalidClientError);
});
