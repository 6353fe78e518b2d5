// End to end in a real browser (headless Chromium via playwright-core): Azurite, the demo provider (45 s access
// tokens, rotation with reuse detection), FunctionsAuth's local host (sweeper every 5 s) and this example app
// (next build, next start), all on free loopback ports. The tests run in order and share one browser context.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { decode } from "@auth/core/jwt";
import { InvalidSessionError, createClient } from "@functionsauth/client";
import { freePort, startProcess, startStack } from "../../../clients/typescript/test/support/local-stack.mjs";

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const resultsDir = process.env.E2E_RESULTS ?? mkdtempSync(join(tmpdir(), "functionsauth-e2e-"));
mkdirSync(resultsDir, { recursive: true });

const tokenLifetimeSeconds = 45;
const authSecret = randomBytes(32).toString("base64");
const cookieName = "authjs.session-token"; // http: no __Secure- prefix
const subject = "demo-user";

let stack;
let app;
let appUrl;
let browser;
let context;
let page;
let offlineLessPort;
let offlineLessApp;
let lazyStack;
let lazyApp;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  if (!existsSync("/usr/bin/chromium")) {
    throw new Error("/usr/bin/chromium is missing: apt-get install -y chromium");
  }
  if (!existsSync(join(appDir, ".next/BUILD_ID")) || process.env.E2E_BUILD === "1") {
    const build = spawnSync(process.execPath, [join(appDir, "node_modules/next/dist/bin/next"), "build"], {
      cwd: appDir, stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" }, timeout: 300_000,
    });
    assert.equal(build.status, 0, "next build failed");
  }

  const appPort = await freePort();
  offlineLessPort = await freePort();
  // localhost, not 127.0.0.1: Next turns 127.0.0.1 into localhost in request URLs (see app/api/auth/[...nextauth]/route.ts).
  appUrl = `http://localhost:${appPort}`;
  // The validator's rules, for a 45 s token: RefreshWindow (28 s) > sweeper interval (5 s) + LeaseDuration (20 s)
  // + SafetyMargin (1 s); LeaseDuration (20 s) >= 3 × ProviderTimeout (3 s) + 4 s + 5 s.
  stack = await startStack({
    accessTokenLifetime: `00:00:${tokenLifetimeSeconds}`,
    redirectUris: [`${appUrl}/api/auth/callback/demo`, `http://localhost:${offlineLessPort}/api/auth/callback/demo`],
    logDir: resultsDir,
    storageProxy: true,
    hostSettings: {
      SweeperSchedule: "*/5 * * * * *",
      FunctionsAuth__Sweeper__TimeBudget: "00:00:04",
      FunctionsAuth__Sweeper__SafetyMargin: "00:00:01",
      FunctionsAuth__ProviderTimeout: "00:00:03",
      FunctionsAuth__LeaseDuration: "00:00:20",
      FunctionsAuth__RefreshWindow: "00:00:28",
      FunctionsAuth__DefaultMinTtl: "00:00:10",
    },
  });

  app = await startApp("next", appPort, {});

  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  context = await browser.newContext({ viewport: { width: 1100, height: 820 } });
  context.setDefaultTimeout(30_000);
  page = await context.newPage();
});

/** `next start` of the built app on 127.0.0.1:<port>, served as http://localhost:<port>; resolves once it answers. */
async function startApp(name, appPort, extraEnv, appStack = stack) {
  const started = startProcess(name, process.execPath, [join(appDir, "node_modules/next/dist/bin/next"), "start", "--hostname", "127.0.0.1", "--port", String(appPort)], {
    cwd: appDir,
    logDir: resultsDir,
    env: {
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      AUTH_SECRET: authSecret,
      AUTH_TRUST_HOST: "true",
      AUTH_DEMO_ISSUER: appStack.issuer,
      AUTH_DEMO_ID: "demo-app",
      AUTH_DEMO_SECRET: "demo-secret",
      FUNCTIONSAUTH_URL: appStack.baseUrl,
      FUNCTIONSAUTH_FUNCTION_KEY: appStack.functionKey,
      FUNCTIONSAUTH_PROVIDER: "demo",
      FUNCTIONSAUTH_MIN_TTL: "10",
      AUTH_URL: `http://localhost:${appPort}`,
      ...extraEnv,
    },
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (started.exitCode !== null) throw new Error(`next start exited (see ${started.logPath})`);
    try {
      if ((await fetch(`http://127.0.0.1:${appPort}/`, { signal: AbortSignal.timeout(2000) })).ok) return started;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`next start was not ready within 60 s (see ${started.logPath})`);
    await sleep(250);
  }
}

after(async () => {
  await browser?.close();
  await lazyApp?.stop();
  await lazyStack?.stop();
  await offlineLessApp?.stop();
  await app?.stop();
  await stack?.stop();
  console.log(`e2e results and logs: ${resultsDir}`);
});

/** Loads a protected page and checks the provider accepted the token FunctionsAuth gave the server. */
async function expectProtectedPage(target, path) {
  const response = await target.goto(appUrl + path);
  assert.equal(new URL(target.url()).pathname, path, `sent away from ${path} to ${target.url()}`);
  assert.equal(response.status(), 200);
  const resource = target.getByTestId("resource");
  assert.equal(await resource.getAttribute("data-status"), "200");
  assert.equal(await target.getByTestId("resource-sub").textContent(), subject);
  return await target.getByTestId("token-source").textContent();
}

async function signIn() {
  await page.goto(`${appUrl}/protected`);
  assert.equal(new URL(page.url()).pathname, "/signin", "the proxy sends a visitor without a session to sign in");
  await Promise.all([page.waitForURL(`${appUrl}/protected`), page.getByTestId("sign-in").click()]);
}

async function sessionCookie() {
  const cookies = (await context.cookies(appUrl)).filter((c) => c.name === cookieName || c.name.startsWith(`${cookieName}.`));
  assert.ok(cookies.length > 0, "an Auth.js session cookie exists");
  const value = cookies.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true })).map((c) => c.value).join("");
  return { cookie: cookies[0], value };
}

test("signs in through the provider and shows the protected resource's answer", async () => {
  await signIn();

  assert.equal(await page.getByTestId("resource").getAttribute("data-status"), "200");
  assert.equal(await page.getByTestId("resource-sub").textContent(), subject);
  assert.match(await page.getByTestId("userinfo").textContent(), /"sub": "demo-user"/);
  await page.screenshot({ path: join(resultsDir, "protected-page.png"), fullPage: true });
});

test("the session cookie holds the handle only: no refresh, access or ID token; the browser's session shows none", async () => {
  const { cookie, value } = await sessionCookie();
  assert.ok(cookie.httpOnly, "the session cookie is HttpOnly");

  const jwt = await decode({ token: value, secret: authSecret, salt: cookieName });

  assert.match(jwt.handle, /^[A-Za-z0-9_-]{43}$/);
  for (const key of ["refresh_token", "access_token", "id_token", "refreshToken", "accessToken", "idToken", "account"]) {
    assert.ok(!(key in jwt), `the JWT has no ${key}`);
  }
  const allowed = ["email", "exp", "handle", "iat", "jti", "name", "sub"];
  assert.deepEqual(Object.keys(jwt).filter((k) => !allowed.includes(k)), [], "the JWT holds the user, the handle and its own times only");
  assert.equal(jwt.name, subject); // sub is Auth.js's own user id (a UUID without a database adapter)

  const apiSession = await (await page.request.get(`${appUrl}/api/auth/session`)).text();
  assert.match(apiSession, /demo-user/);
  assert.ok(!apiSession.includes(jwt.handle), "/api/auth/session does not carry the handle");
  assert.ok(!/token/i.test(apiSession), `/api/auth/session carries no token: ${apiSession}`);

  await page.goto(`${appUrl}/session`);
  await page.waitForSelector('[data-testid="browser-session"][data-status="authenticated"]');
  const browserSession = await page.getByTestId("browser-session").textContent();
  assert.ok(!browserSession.includes(jwt.handle), "useSession() does not carry the handle");
  assert.ok(!/token/i.test(browserSession));
});

test("stays signed in across three token lifetimes, two tabs at once: every token accepted, no refresh token reused", async () => {
  const second = await context.newPage();
  const started = Date.now();
  const before = await stack.provider.statistics();
  const paths = ["/protected", "/protected/again"];
  const sources = [];
  let round = 0;

  while (Date.now() - started < (3 * tokenLifetimeSeconds + 5) * 1000) {
    round++;
    if (round % 3 === 0) {
      // Reload both tabs at the same instant.
      await Promise.all([page.reload(), second.reload()]);
      for (const tab of [page, second]) {
        assert.match(new URL(tab.url()).pathname, /^\/protected/);
        assert.equal(await tab.getByTestId("resource").getAttribute("data-status"), "200");
      }
    } else {
      // Navigate both tabs at the same instant, to different protected pages.
      sources.push(...await Promise.all([
        expectProtectedPage(page, paths[round % 2]),
        expectProtectedPage(second, paths[(round + 1) % 2]),
      ]));
    }
    await sleep(4000 + Math.floor(Math.random() * 2000));
  }

  const afterwards = await stack.provider.statistics();
  await second.close();
  console.log(`${round} rounds; provider refreshes: ${afterwards.successfulRefreshes - before.successfulRefreshes}; token sources: ${JSON.stringify(countBy(sources))}`);
  assert.equal(afterwards.reusedRefreshTokens, 0, "no refresh token was presented twice");
  assert.ok(afterwards.successfulRefreshes - before.successfulRefreshes >= 3, "the session was refreshed at least once per lifetime");
});

test("sweeper off, two tabs at the same instant when the token is about to expire: one refresh at the provider, both signed in", async () => {
  // A second stack whose sweeper is disabled, so that the pages themselves hit expiry and refresh on the request path.
  const lazyPort = await freePort();
  const lazyUrl = `http://localhost:${lazyPort}`;
  lazyStack = await startStack({
    accessTokenLifetime: `00:00:${tokenLifetimeSeconds}`,
    redirectUris: [`${lazyUrl}/api/auth/callback/demo`],
    logDir: join(resultsDir, "sweeper-off"),
    hostSettings: {
      "AzureWebJobs.Sweeper.Disabled": "true",
      SweeperSchedule: "*/5 * * * * *",
      FunctionsAuth__Sweeper__TimeBudget: "00:00:04",
      FunctionsAuth__Sweeper__SafetyMargin: "00:00:01",
      FunctionsAuth__ProviderTimeout: "00:00:03",
      FunctionsAuth__LeaseDuration: "00:00:20",
      FunctionsAuth__RefreshWindow: "00:00:28",
      FunctionsAuth__DefaultMinTtl: "00:00:10",
    },
  });
  lazyApp = await startApp("next-sweeper-off", lazyPort, {}, lazyStack);
  const isolated = await browser.newContext();
  try {
    const [first, second] = [await isolated.newPage(), await isolated.newPage()];
    await first.goto(`${lazyUrl}/signin`);
    await Promise.all([first.waitForURL(`${lazyUrl}/protected`), first.getByTestId("sign-in").click()]);
    assert.equal(await first.getByTestId("resource").getAttribute("data-status"), "200");
    const cookie = (await isolated.cookies(lazyUrl)).find((c) => c.name === cookieName);
    const { handle } = await decode({ token: cookie.value, secret: authSecret, salt: cookieName });
    const client = createClient({ baseUrl: lazyStack.baseUrl, functionKey: lazyStack.functionKey });
    const { expiresAt } = await client.getAccessToken(handle, { minTtl: 0 });

    // Pages ask for 10 s of validity: with 7 s left, both requests need a refresh.
    const wait = expiresAt * 1000 - 7000 - Date.now();
    assert.ok(wait > 0 && wait < tokenLifetimeSeconds * 1000, `wait ${wait} ms`);
    await sleep(wait);
    const before = await lazyStack.provider.statistics();
    await Promise.all([first.reload(), second.goto(`${lazyUrl}/protected`)]);

    const afterwards = await lazyStack.provider.statistics();
    const sources = [];
    for (const tab of [first, second]) {
      assert.equal(new URL(tab.url()).pathname, "/protected");
      assert.equal(await tab.getByTestId("resource").getAttribute("data-status"), "200");
      sources.push(await tab.getByTestId("token-source").textContent());
    }
    console.log(`two tabs at expiry: ${JSON.stringify(sources)}; provider refresh requests: ${afterwards.refreshRequests - before.refreshRequests}`);
    assert.ok(sources.some((s) => s.startsWith("refreshed")), "the pages refreshed on the request path");
    assert.equal(afterwards.refreshRequests - before.refreshRequests, 1, "one refresh for both tabs");
    assert.equal(afterwards.reusedRefreshTokens, 0);
  } finally {
    await isolated.close();
  }
});

// FunctionsAuth's own storage cut (a TCP proxy in front of Azurite): /api/auth/refresh answers 503
// temporarily_unavailable with Retry-After, which the page shows as "try again shortly" without signing the user out.
test("FunctionsAuth's storage unreachable: the page says try again shortly and the user stays signed in", async () => {
  await stack.storage.cut();
  try {
    await page.goto(`${appUrl}/protected`);
    assert.equal(new URL(page.url()).pathname, "/protected", "not sent to sign in");
    assert.match(await page.getByTestId("try-again").textContent({ timeout: 5000 }), /try again shortly/);
  } finally {
    await stack.storage.restore();
  }
  await expectProtectedPage(page, "/protected");
});

test("a grant revoked at the provider behind the app's back: the next page is the sign-in page with the reason", async () => {
  await stack.provider.revokeGrants(subject);

  const response = await page.goto(`${appUrl}/protected`);

  assert.equal(new URL(page.url()).pathname, "/signin");
  assert.equal(response.status(), 200, "a page, not an error");
  const reason = await page.getByTestId("signin-reason").getAttribute("data-reason");
  console.log(`sign-in reason after the revocation: ${reason}`);
  assert.ok(["reauth_required", "token_rejected"].includes(reason), `reason ${reason}`);
  assert.match(await page.getByTestId("signin-reason").textContent(), /sign in again/i);
  const stale = (await context.cookies(appUrl)).filter((c) => c.name.startsWith(cookieName));
  assert.equal(stale.length, 0, "the Auth.js session ended with the FunctionsAuth session");
  assert.equal(await page.getByTestId("signed-in-as").count(), 0, "the header no longer says signed in");
});

test("signs in again, then signs out: the session is revoked at FunctionsAuth and the protected page asks to sign in", async () => {
  await signIn();
  await expectProtectedPage(page, "/protected");
  const { handle } = await decode({ token: (await sessionCookie()).value, secret: authSecret, salt: cookieName });
  const revocationsBefore = (await stack.provider.statistics()).revocationRequests;

  await Promise.all([page.waitForURL(/\/signin\?reason=signed_out/), page.getByTestId("sign-out").click()]);

  assert.match(await page.getByTestId("signin-reason").textContent(), /signed out/);
  const client = createClient({ baseUrl: stack.baseUrl, functionKey: stack.functionKey });
  await assert.rejects(client.getAccessToken(handle), InvalidSessionError);
  assert.ok((await stack.provider.statistics()).revocationRequests > revocationsBefore, "revoked at the provider");
  await page.goto(`${appUrl}/protected`);
  assert.equal(new URL(page.url()).pathname, "/signin");
});

test("no refresh token issued (no offline_access): the sign-in ends on the sign-in page with the reason, and no session", async () => {
  offlineLessApp = await startApp("next-without-offline-access", offlineLessPort, { AUTH_DEMO_SCOPE: "openid profile email" });
  const url = `http://localhost:${offlineLessPort}`;
  const isolated = await browser.newContext();
  try {
    const tab = await isolated.newPage();
    await tab.goto(`${url}/signin`);
    await Promise.all([tab.waitForURL(/\/signin\?/), tab.getByTestId("sign-in").click()]);

    assert.equal(new URL(tab.url()).searchParams.get("code"), "no_refresh_token");
    assert.match(await tab.getByTestId("signin-reason").textContent(), /no refresh token/);
    const cookies = await isolated.cookies(url);
    assert.ok(!cookies.some((c) => c.name.startsWith(cookieName)), "no session cookie without a handle");
    await tab.goto(`${url}/protected`);
    assert.equal(new URL(tab.url()).pathname, "/signin");
  } finally {
    await isolated.close();
  }
});

test("the provider never saw a refresh token twice", async () => {
  assert.equal((await stack.provider.statistics()).reusedRefreshTokens, 0);
});

function countBy(values) {
  return values.reduce((counts, v) => ({ ...counts, [v]: (counts[v] ?? 0) + 1 }), {});
}
