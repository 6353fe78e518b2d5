// Unit tests of the client against a fake fetch: error mapping, retry, time-out, abort, where the key goes.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionError,
  FunctionsAuthError,
  InvalidClientError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  InvalidSessionError,
  ProviderError,
  ProviderUnavailableError,
  RateLimitedError,
  ReauthRequiredError,
  TemporarilyUnavailableError,
  createClient,
  isSignInRequired,
  isTemporary,
  parseRetryAfter,
} from "../dist/index.js";

const theHandle = "Qm7f3yXo9kq1Zp0cVbN2sLw8tRe4uYiA6hGjDkF5xMc";
const theKey = "the-function-key-0123456789";
const theToken = { access_token: "eyJ.the-access-token", token_type: "Bearer", expires_at: 1764000000, scope: "openid", refreshed: false };

/** A fetch that answers from a script, one entry per call, and records the requests. */
function fakeFetch(...answers) {
  const calls = [];
  const impl = async (url, init) => {
    calls.push({ url: String(url), init, body: init.body === undefined ? undefined : JSON.parse(init.body) });
    const answer = answers[Math.min(calls.length - 1, answers.length - 1)];
    if (typeof answer === "function") {
      return answer(url, init);
    }
    const { status, body, headers = {} } = answer;
    return new Response(body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json; charset=utf-8", ...headers },
    });
  };
  impl.calls = calls;
  return impl;
}

function clientWith(fetch, options = {}) {
  return createClient({ baseUrl: "http://127.0.0.1:7071", functionKey: theKey, fetch, ...options });
}

const errorCases = [
  { status: 400, error: "invalid_request", type: InvalidRequestError },
  { status: 400, error: "invalid_grant", type: InvalidGrantError },
  { status: 400, error: "invalid_scope", type: InvalidScopeError },
  { status: 401, error: "invalid_client", type: InvalidClientError },
  { status: 401, error: "invalid_session", type: InvalidSessionError },
  { status: 401, error: "reauth_required", type: ReauthRequiredError },
  { status: 502, error: "provider_error", type: ProviderError },
  { status: 429, error: "rate_limited", type: RateLimitedError, retryAfter: 7 },
  { status: 503, error: "provider_unavailable", type: ProviderUnavailableError, retryAfter: 12 },
  { status: 503, error: "temporarily_unavailable", type: TemporarilyUnavailableError, retryAfter: 3 },
];

for (const c of errorCases) {
  test(`getAccessToken: ${c.status} ${c.error} → ${c.type.name} with code, status, description`, async () => {
    const fetch = fakeFetch({
      status: c.status,
      body: { error: c.error, error_description: "Something the server says." },
      headers: c.retryAfter ? { "retry-after": String(c.retryAfter) } : {},
    });

    const error = await clientWith(fetch).getAccessToken(theHandle).catch((e) => e);

    assert.ok(error instanceof c.type, `expected ${c.type.name}, got ${error?.name}`);
    assert.ok(error instanceof FunctionsAuthError);
    assert.equal(error.name, c.type.name);
    assert.equal(error.code, c.error);
    assert.equal(error.status, c.status);
    assert.equal(error.description, "Something the server says.");
    assert.equal(error.retryAfter, c.retryAfter);
    assert.ok(!error.message.includes(theHandle));
    assert.ok(!error.message.includes(theKey));
  });
}

test("sign-in and try-again helpers sort the errors as the contract says", () => {
  assert.ok(isSignInRequired(new ReauthRequiredError(401, "reauth_required", "x")));
  assert.ok(isSignInRequired(new InvalidSessionError(401, "invalid_session", "x")));
  assert.ok(!isSignInRequired(new ProviderUnavailableError(503, "provider_unavailable", "x", 5)));
  assert.ok(isTemporary(new ProviderUnavailableError(503, "provider_unavailable", "x", 5)));
  assert.ok(isTemporary(new TemporarilyUnavailableError(503, "temporarily_unavailable", "x", 5)));
  assert.ok(isTemporary(new RateLimitedError(429, "rate_limited", "x", 5)));
  assert.ok(isTemporary(new ConnectionError(0, "timeout", "x")));
  assert.ok(!isTemporary(new InvalidRequestError(400, "invalid_request", "x")));
});

test("an unknown code keeps status and code in the base class", async () => {
  const fetch = fakeFetch({ status: 409, body: { error: "brand_new_code", error_description: "Later version." } });

  const error = await clientWith(fetch).getAccessToken(theHandle).catch((e) => e);

  assert.equal(error.constructor, FunctionsAuthError);
  assert.equal(error.code, "brand_new_code");
  assert.equal(error.status, 409);
});

test("an empty 401 (the platform's key check on Azure) is an InvalidClientError", async () => {
  const error = await clientWith(fakeFetch({ status: 401, body: "" })).getAccessToken(theHandle).catch((e) => e);

  assert.ok(error instanceof InvalidClientError);
});

test("an unknown code on 503 is still retryable with its Retry-After", async () => {
  const fetch = fakeFetch({ status: 503, body: "<html>gateway</html>", headers: { "retry-after": "9" } });

  const error = await clientWith(fetch).getAccessToken(theHandle).catch((e) => e);

  assert.ok(error instanceof TemporarilyUnavailableError);
  assert.equal(error.retryAfter, 9);
});

test("Retry-After: seconds, an HTTP date, or absent", () => {
  const now = Date.parse("2026-12-01T08:00:00Z");
  assert.equal(parseRetryAfter("5", now), 5);
  assert.equal(parseRetryAfter("0", now), 1);
  assert.equal(parseRetryAfter("Tue, 01 Dec 2026 08:00:30 GMT", now), 30);
  assert.equal(parseRetryAfter(null, now), 1);
  assert.equal(parseRetryAfter("soon", now), 1);
});

test("a success maps the wire names; the key goes in x-functions-key only, never in the URL", async () => {
  const fetch = fakeFetch({ status: 200, body: { ...theToken, refreshed: true } });

  const token = await clientWith(fetch).getAccessToken(theHandle, { minTtl: 120 });

  assert.deepEqual(token, { accessToken: theToken.access_token, tokenType: "Bearer", expiresAt: 1764000000, scope: "openid", refreshed: true });
  const [call] = fetch.calls;
  assert.equal(call.url, "http://127.0.0.1:7071/api/auth/refresh");
  assert.equal(call.init.method, "POST");
  assert.equal(call.init.headers["x-functions-key"], theKey);
  assert.ok(!call.url.includes(theKey));
  assert.deepEqual(call.body, { session: theHandle, min_ttl: 120 });
});

test("scope and resource go on the wire when given, and only then", async () => {
  const fetch = fakeFetch({ status: 200, body: { ...theToken, scope: "https://graph.microsoft.com/.default" } });

  const token = await clientWith(fetch).getAccessToken(theHandle, { scope: "https://graph.microsoft.com/.default", resource: "https://api.example/" });
  await clientWith(fetch).getAccessToken(theHandle, { minTtl: 30 });

  assert.equal(token.scope, "https://graph.microsoft.com/.default");
  assert.deepEqual(fetch.calls[0].body, { session: theHandle, scope: "https://graph.microsoft.com/.default", resource: "https://api.example/" });
  assert.deepEqual(fetch.calls[1].body, { session: theHandle, min_ttl: 30 });
});

test("a caller key, when given, goes in x-functionsauth-caller-key on every call; none is sent otherwise", async () => {
  const fetch = fakeFetch({ status: 204 }, { status: 204 });

  await createClient({ baseUrl: "http://127.0.0.1:7071", functionKey: theKey, callerKey: "shop-caller-key-0123456789abcdefghij", fetch }).revokeSession(theHandle);
  await createClient({ baseUrl: "http://127.0.0.1:7071", functionKey: theKey, fetch }).revokeSession(theHandle);

  assert.equal(fetch.calls[0].init.headers["x-functionsauth-caller-key"], "shop-caller-key-0123456789abcdefghij");
  assert.ok(!fetch.calls[0].url.includes("shop-caller-key"));
  assert.ok(!("x-functionsauth-caller-key" in fetch.calls[1].init.headers));
});

test("baseUrl with a path prefix keeps it", async () => {
  const fetch = fakeFetch({ status: 204 });

  await createClient({ baseUrl: "https://gw.example/functions-auth", functionKey: theKey, fetch }).revokeSession(theHandle);

  assert.equal(fetch.calls[0].url, "https://gw.example/functions-auth/api/auth/revoke");
  assert.deepEqual(fetch.calls[0].body, { session: theHandle });
});

test("revokeSession: revokeGrant goes out as revoke_grant, and only when set", async () => {
  const fetch = fakeFetch({ status: 204 }, { status: 204 }, { status: 204 });
  const client = clientWith(fetch);

  await client.revokeSession(theHandle, { revokeGrant: true });
  await client.revokeSession(theHandle, { revokeGrant: false });
  await client.revokeSession(theHandle);

  assert.deepEqual(fetch.calls.map((c) => c.body), [
    { session: theHandle, revoke_grant: true },
    { session: theHandle, revoke_grant: false },
    { session: theHandle },
  ]);
});

test("registerSession, code form: sends the contract's names and returns the handle", async () => {
  const fetch = fakeFetch({ status: 201, body: { session: theHandle, access_token: "at", token_type: "Bearer", expires_at: 1, scope: null, id_token: "idt" } });

  const created = await clientWith(fetch).registerSession({ provider: "demo", code: "the-code", codeVerifier: "v".repeat(43), redirectUri: "http://127.0.0.1:3000/cb" });

  assert.deepEqual(fetch.calls[0].body, { provider: "demo", code: "the-code", code_verifier: "v".repeat(43), redirect_uri: "http://127.0.0.1:3000/cb" });
  assert.deepEqual(created, { session: theHandle, accessToken: "at", tokenType: "Bearer", expiresAt: 1, scope: null, idToken: "idt" });
});

test("registerSession, hand-over form: sends the contract's names", async () => {
  const fetch = fakeFetch({ status: 201, body: { session: theHandle, access_token: "at", token_type: "Bearer", expires_at: 5, scope: "openid" } });

  await clientWith(fetch).registerSession({ provider: "demo", refreshToken: "rt", accessToken: "at", expiresAt: 5, scope: "openid" });

  assert.deepEqual(fetch.calls[0].body, { provider: "demo", refresh_token: "rt", access_token: "at", expires_at: 5, scope: "openid" });
});

test("registerSession with a subject: sends it in either form, and leaves it out when not given", async () => {
  const fetch = fakeFetch(
    { status: 201, body: { session: theHandle, access_token: "at", token_type: "Bearer", expires_at: 1, scope: null } },
    { status: 201, body: { session: theHandle, access_token: "at", token_type: "Bearer", expires_at: 1, scope: null } },
  );

  await clientWith(fetch).registerSession({ provider: "demo", code: "the-code", codeVerifier: "v".repeat(43), redirectUri: "http://127.0.0.1:3000/cb", subject: "user-42" });
  await clientWith(fetch).registerSession({ provider: "demo", refreshToken: "rt", subject: "user-42" });

  assert.equal(fetch.calls[0].body.subject, "user-42");
  assert.deepEqual(fetch.calls[1].body, { provider: "demo", refresh_token: "rt", subject: "user-42" });
});

test("registerSession without a refresh token fails before any request", async () => {
  const fetch = fakeFetch({ status: 201, body: {} });

  await assert.rejects(clientWith(fetch).registerSession({ provider: "demo", refreshToken: undefined, accessToken: "secret-at" }), (e) => {
    assert.ok(e instanceof TypeError);
    assert.ok(!e.message.includes("secret-at"));
    return true;
  });
  assert.equal(fetch.calls.length, 0);
});

test("retry is off by default: one request, the error goes to the caller", async () => {
  const fetch = fakeFetch({ status: 503, body: { error: "provider_unavailable", error_description: "down" }, headers: { "retry-after": "1" } });

  await assert.rejects(clientWith(fetch).getAccessToken(theHandle), ProviderUnavailableError);
  assert.equal(fetch.calls.length, 1);
});

test("retry on: waits Retry-After, then succeeds", async () => {
  const fetch = fakeFetch(
    { status: 429, body: { error: "rate_limited", error_description: "slow down" }, headers: { "retry-after": "1" } },
    { status: 200, body: theToken },
  );
  const started = Date.now();

  const token = await clientWith(fetch, { retry: { maxAttempts: 3, maxDelayMs: 2000 } }).getAccessToken(theHandle);

  assert.equal(token.accessToken, theToken.access_token);
  assert.equal(fetch.calls.length, 2);
  assert.ok(Date.now() - started >= 990, "waited at least Retry-After");
});

test("retry on: stops after maxAttempts", async () => {
  const fetch = fakeFetch({ status: 503, body: { error: "temporarily_unavailable", error_description: "storage" }, headers: { "retry-after": "1" } });

  await assert.rejects(clientWith(fetch, { retry: { maxAttempts: 2, maxDelayMs: 1500 } }).revokeSession(theHandle), TemporarilyUnavailableError);
  assert.equal(fetch.calls.length, 2);
});

test("retry on: a Retry-After above maxDelayMs is not waited for", async () => {
  const fetch = fakeFetch({ status: 503, body: { error: "provider_unavailable", error_description: "down" }, headers: { "retry-after": "30" } });
  const started = Date.now();

  const error = await clientWith(fetch, { retry: { maxAttempts: 5, maxDelayMs: 1000 } }).getAccessToken(theHandle).catch((e) => e);

  assert.ok(error instanceof ProviderUnavailableError);
  assert.equal(error.retryAfter, 30);
  assert.equal(fetch.calls.length, 1);
  assert.ok(Date.now() - started < 500);
});

test("retry on: errors that retrying cannot fix are not retried", async () => {
  const fetch = fakeFetch({ status: 401, body: { error: "reauth_required", error_description: "revoked" } });

  await assert.rejects(clientWith(fetch, { retry: true }).getAccessToken(theHandle), ReauthRequiredError);
  assert.equal(fetch.calls.length, 1);
});

test("registerSession is never retried, even with retry on (a code or refresh token must not be sent twice)", async () => {
  const fetch = fakeFetch({ status: 503, body: { error: "temporarily_unavailable", error_description: "storage" }, headers: { "retry-after": "1" } });

  await assert.rejects(clientWith(fetch, { retry: true }).registerSession({ provider: "demo", refreshToken: "rt" }), TemporarilyUnavailableError);
  assert.equal(fetch.calls.length, 1);
});

test("aborting during the retry wait rejects with the signal's reason at once", async () => {
  const fetch = fakeFetch({ status: 503, body: { error: "provider_unavailable", error_description: "down" }, headers: { "retry-after": "2" } });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("user went away")), 100);
  const started = Date.now();

  await assert.rejects(
    clientWith(fetch, { retry: { maxAttempts: 3, maxDelayMs: 5000 } }).getAccessToken(theHandle, { signal: controller.signal }),
    /user went away/,
  );
  assert.ok(Date.now() - started < 1000);
  assert.equal(fetch.calls.length, 1);
});

test("an already aborted signal sends nothing", async () => {
  const fetch = fakeFetch({ status: 200, body: theToken });

  await assert.rejects(clientWith(fetch).getAccessToken(theHandle, { signal: AbortSignal.abort() }), { name: "AbortError" });
  assert.equal(fetch.calls.length, 0);
});

/** A fetch that never answers until its signal aborts, like a hung server. */
const hangingFetch = (url, init) => new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));

test("time-out: a ConnectionError with code timeout", async () => {
  const error = await clientWith(hangingFetch, { timeoutMs: 100 }).getAccessToken(theHandle).catch((e) => e);

  assert.ok(error instanceof ConnectionError);
  assert.equal(error.code, "timeout");
  assert.equal(error.status, 0);
});

test("the caller's signal aborts a request in flight with its own reason", async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("navigation cancelled")), 50);

  await assert.rejects(clientWith(hangingFetch, { timeoutMs: 5000 }).revokeSession(theHandle, { signal: controller.signal }), /navigation cancelled/);
});

test("connection refused: a ConnectionError with code network_error", async () => {
  const fetch = async () => { throw new TypeError("fetch failed"); };

  const error = await clientWith(fetch).getAccessToken(theHandle).catch((e) => e);

  assert.ok(error instanceof ConnectionError);
  assert.equal(error.code, "network_error");
});

test("a 200 that is not the contract's body is an unexpected_response, not a token", async () => {
  const error = await clientWith(fakeFetch({ status: 200, body: { hello: "world" } })).getAccessToken(theHandle).catch((e) => e);

  assert.ok(error instanceof ConnectionError);
  assert.equal(error.code, "unexpected_response");
  assert.equal(error.status, 200);
});

test("an error message never carries a token or a handle, even when the server echoes one", async () => {
  const fetch = fakeFetch({ status: 400, body: { error: "invalid_request", error_description: "bad" } });

  const error = await clientWith(fetch).registerSession({ provider: "demo", refreshToken: "rt-secret-value", accessToken: "at-secret-value" }).catch((e) => e);

  for (const text of [error.message, String(error), JSON.stringify(error)]) {
    assert.ok(!text.includes("rt-secret-value"));
    assert.ok(!text.includes("at-secret-value"));
  }
});

test("createClient needs a function key", () => {
  assert.throws(() => createClient({ baseUrl: "http://127.0.0.1:7071", functionKey: "" }), TypeError);
});
