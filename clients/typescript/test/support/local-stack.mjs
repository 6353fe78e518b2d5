// Starts the real parts on loopback, each on a free port: Azurite (tables, in memory), the demo OAuth provider
// (OpenIddict, rotating refresh tokens with reuse detection) and FunctionsAuth's local host, from their build outputs.
// Used by the client's integration tests and by the Next.js example's browser tests.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const demoClient = { id: "demo-app", secret: "demo-secret" };
const azuriteAccount = "devstoreaccount1";
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls until `probe` resolves true, at most `seconds`; fails with what the process logged. */
async function waitFor(what, seconds, probe, child) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`${what} exited with code ${child.exitCode} before it was ready (see ${child.logPath}).`);
    }
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  throw new Error(`${what} was not ready within ${seconds} s (see ${child?.logPath ?? "its log"}).`);
}

const httpOk = (url) => async () => (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;

function requireBuilt(path, project) {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`dotnet build src/${project}\` first.`);
  }
  return path;
}

/**
 * Starts a child process whose output goes to `<logDir>/<name>.log`. The returned handle's `stop()` ends it by pid
 * (SIGTERM, then SIGKILL after 5 s).
 */
export function startProcess(name, command, args, { env = {}, cwd, logDir }) {
  const logPath = join(logDir, `${name}.log`);
  const log = createWriteStream(logPath);
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.logPath = logPath;
  child.stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  return child;
}

/**
 * A loopback TCP proxy in front of a port, which a test can cut (listener closed, open connections destroyed: the
 * client sees connection refused) and restore on the same port. Cutting the connection, not stopping the emulator,
 * loses no acknowledged write.
 */
export async function startTcpProxy(targetPort) {
  const port = await freePort();
  const sockets = new Set();
  let server;
  const listen = () => new Promise((resolveListen, reject) => {
    server = createServer((client) => {
      const upstream = connect(targetPort, "127.0.0.1");
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    });
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolveListen);
  });
  await listen();
  return {
    port,
    async cut() {
      await new Promise((r) => { server.close(r); for (const socket of sockets) socket.destroy(); });
    },
    restore: listen,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((r) => (server.listening ? server.close(r) : r()));
    },
  };
}

/**
 * Starts Azurite, the demo provider and the local host.
 * @param {object} options
 * @param {string} [options.accessTokenLifetime] the provider's access-token lifetime (TimeSpan, e.g. "00:00:45")
 * @param {string[]} [options.redirectUris] redirect URIs registered for the demo-app client
 * @param {Record<string,string>} [options.hostSettings] extra FunctionsAuth settings (environment variable names)
 * @param {string} [options.logDir] where the processes' logs go (default: a new temporary folder)
 * @param {boolean} [options.storageProxy] put a TCP proxy between the host and Azurite (`stack.storage.cut()`)
 */
export async function startStack({ accessTokenLifetime = "00:05:00", redirectUris = ["http://127.0.0.1:3000/api/auth/callback/demo"], hostSettings = {}, logDir, storageProxy = false } = {}) {
  logDir ??= mkdtempSync(join(tmpdir(), "functionsauth-stack-"));
  mkdirSync(logDir, { recursive: true });
  const children = [];
  let storage;
  const stop = async () => {
    await Promise.all(children.reverse().map((c) => c.stop()));
    await storage?.close();
  };

  try {
    const [azuritePort, providerPort, hostPort] = [await freePort(), await freePort(), await freePort()];

    const azuriteBin = join(repoRoot, "node_modules/.bin/azurite-table");
    if (!existsSync(azuriteBin)) {
      throw new Error(`${azuriteBin} is missing: run \`npm ci\` in the repository root first.`);
    }
    const azurite = startProcess("azurite", azuriteBin, [
      "--tableHost", "127.0.0.1", "--tablePort", String(azuritePort), "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck",
    ], { logDir, cwd: logDir });
    children.push(azurite);

    const issuer = `http://127.0.0.1:${providerPort}/`;
    const clientEnv = { DemoProvider__Clients__0__ClientId: demoClient.id, DemoProvider__Clients__0__ClientSecret: demoClient.secret };
    redirectUris.forEach((uri, i) => { clientEnv[`DemoProvider__Clients__0__RedirectUris__${i}`] = uri; });
    const provider = startProcess("demo-provider", "dotnet", [
      requireBuilt(join(repoRoot, "src/FunctionsAuth.DemoProvider/bin/Debug/net10.0/FunctionsAuth.DemoProvider.dll"), "FunctionsAuth.DemoProvider"),
      "--urls", `http://127.0.0.1:${providerPort}`,
    ], { logDir, cwd: logDir, env: { DemoProvider__AccessTokenLifetime: accessTokenLifetime, ...clientEnv } });
    children.push(provider);

    const functionKey = randomBytes(24).toString("base64url");
    storage = storageProxy ? await startTcpProxy(azuritePort) : undefined;
    const tablePort = storage?.port ?? azuritePort;
    const connectionString = `DefaultEndpointsProtocol=http;AccountName=${azuriteAccount};AccountKey=${azuriteKey};TableEndpoint=http://127.0.0.1:${tablePort}/${azuriteAccount};`;
    // The host runs in an empty folder, so no local.settings.json of the developer's is read: only these settings count.
    const host = startProcess("functionsauth", "dotnet", [
      requireBuilt(join(repoRoot, "src/FunctionsAuth.LocalHost/bin/Debug/net10.0/FunctionsAuth.LocalHost.dll"), "FunctionsAuth.LocalHost"),
      "--urls", `http://127.0.0.1:${hostPort}`,
    ], {
      logDir,
      cwd: mkdtempSync(join(tmpdir(), "functionsauth-host-")),
      env: {
        FunctionsAuth__Storage__ConnectionString: connectionString,
        AzureWebJobsStorage: connectionString,
        FunctionsAuth__Providers__demo__Kind: "Oidc",
        FunctionsAuth__Providers__demo__Issuer: issuer,
        FunctionsAuth__Providers__demo__ClientId: demoClient.id,
        FunctionsAuth__Providers__demo__ClientSecretName: "demo-client-secret",
        FunctionsAuth__Providers__demo__Scopes: "",
        "FunctionsAuth__Secrets__demo-client-secret": demoClient.secret,
        "FunctionsAuth__Secrets__token-encryption-key": randomBytes(32).toString("base64"),
        LocalHost__FunctionKey: functionKey,
        SweeperSchedule: "0 */5 * * * *",
        ...hostSettings,
      },
    });
    children.push(host);

    // Any HTTP answer means Azurite listens.
    await waitFor("Azurite", 30, async () => Boolean(await fetch(`http://127.0.0.1:${azuritePort}/`, { signal: AbortSignal.timeout(1000) })), azurite);
    await waitFor("The demo provider", 60, httpOk(`${issuer}.well-known/openid-configuration`), provider);
    const baseUrl = `http://127.0.0.1:${hostPort}`;
    await waitFor("FunctionsAuth's local host", 90, httpOk(`${baseUrl}/api/health`), host);

    return { baseUrl, functionKey, issuer, logDir, stop, storage, provider: new DemoProvider(issuer) };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The demo provider seen from outside: the front-channel sign-in a browser does, and its /demo-admin/ endpoints. */
export class DemoProvider {
  constructor(issuer) {
    this.issuer = issuer;
  }

  /** GET /connect/authorize with PKCE S256, as `subject`; reads the code from the redirect instead of following it. */
  async authorize({ redirectUri = "http://127.0.0.1:3000/api/auth/callback/demo", scope = "openid offline_access profile email", subject = "demo-user" } = {}) {
    const codeVerifier = randomBytes(32).toString("base64url");
    const state = randomBytes(16).toString("base64url");
    const url = new URL("connect/authorize", this.issuer);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: demoClient.id,
      redirect_uri: redirectUri,
      scope,
      state,
      code_challenge: createHash("sha256").update(codeVerifier).digest("base64url"),
      code_challenge_method: "S256",
      login_hint: subject,
    }).toString();
    const response = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(10_000) });
    const location = response.headers.get("location");
    if (!location) {
      throw new Error(`The authorize endpoint answered ${response.status} without a redirect.`);
    }
    const query = new URL(location).searchParams;
    if (query.get("state") !== state || !query.get("code")) {
      throw new Error(`The authorization was refused: ${query.get("error")}`);
    }
    return { code: query.get("code"), codeVerifier, redirectUri };
  }

  /** Redeems a code at the token endpoint (what Auth.js does before a hand-over). */
  async redeem({ code, codeVerifier, redirectUri }) {
    const response = await fetch(new URL("connect/token", this.issuer), {
      method: "POST",
      headers: { authorization: "Basic " + Buffer.from(`${demoClient.id}:${demoClient.secret}`).toString("base64") },
      body: new URLSearchParams({ grant_type: "authorization_code", code, code_verifier: codeVerifier, redirect_uri: redirectUri }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) {
      throw new Error(`The token endpoint answered ${response.status}.`);
    }
    return response.json();
  }

  /** GET /connect/userinfo with the access token: the status and, on 200, the claims. */
  async userinfo(accessToken) {
    const response = await fetch(new URL("connect/userinfo", this.issuer), {
      headers: { authorization: `Bearer ${accessToken}` },
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, claims: response.ok ? await response.json() : undefined };
  }

  async statistics() {
    const response = await fetch(new URL("demo-admin/statistics", this.issuer), { signal: AbortSignal.timeout(10_000) });
    return response.json();
  }

  /** Revokes every grant of `subject` behind the front end's back. */
  async revokeGrants(subject) {
    const response = await fetch(new URL(`demo-admin/revoke-grants?subject=${encodeURIComponent(subject)}`, this.issuer), {
      method: "POST",
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status !== 204) {
      throw new Error(`revoke-grants answered ${response.status}.`);
    }
  }
}
