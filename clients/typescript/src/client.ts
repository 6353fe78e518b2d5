import type { components } from "./generated/openapi.js";
import { ConnectionError, RetryableError, errorFromResponse } from "./errors.js";

type Schemas = components["schemas"];

export interface RetryOptions {
  /** Attempts in all, the first included (default 3). */
  maxAttempts?: number;
  /**
   * The longest wait before one retry, in milliseconds (default 5000). An answer whose `Retry-After` asks for longer
   * is not retried: the error goes to the caller, who can show "try again shortly".
   */
  maxDelayMs?: number;
}

export interface ClientOptions {
  /** Where FunctionsAuth runs, e.g. `https://auth-fn.azurewebsites.net` or `http://127.0.0.1:7071`. */
  baseUrl: string | URL;
  /** The function key, sent in the `x-functions-key` header only (never in the URL, where logs would keep it). */
  functionKey: string;
  /**
   * This front end's caller key, when FunctionsAuth tells callers apart by key (`FunctionsAuth:Callers:Mode` =
   * `CallerKeys`): sent in `x-functionsauth-caller-key`. Sessions are bound to the caller that created them.
   */
  callerKey?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Time-out of each HTTP attempt in milliseconds (default 10000). */
  timeoutMs?: number;
  /**
   * Retries of getAccessToken and revokeSession after 429/503, honouring `Retry-After`. Off by default (`false`).
   * registerSession is never retried: a retried registration could present a spent code or refresh token again.
   */
  retry?: RetryOptions | boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface RevokeSessionOptions extends CallOptions {
  /**
   * `true`: revoke the grant at the provider as well; `false`: only delete the session. Unset: the provider's
   * `SignOutRevocation` setting decides (Google: delete only). `true` where that setting is `Never` is an `InvalidRequestError`.
   */
  revokeGrant?: boolean;
}

export interface GetAccessTokenOptions extends CallOptions {
  /** Seconds the token must still be valid for (0–86400); default: FunctionsAuth's configured DefaultMinTtl. */
  minTtl?: number;
  /**
   * A narrower scope (space-separated) for a token of its own, from the session's one refresh token: a subset of the
   * session's granted scope, or of the provider's `AllowedScopes` (Entra ID: `https://graph.microsoft.com/.default`).
   * Not allowed, or refused by the provider: `InvalidScopeError`, the session unchanged.
   */
  scope?: string;
  /** The resource (RFC 8707, an absolute URI) the token is for: one of the provider's `AllowedResources`. */
  resource?: string;
}

/** FunctionsAuth redeems the code itself (the provider's tokens never reach the front end). */
export interface CodeRegistration {
  provider: string;
  code: string;
  codeVerifier: string;
  redirectUri: string;
  /** Your own id for the user (at most 256 characters, no control characters; not a secret): put in every event about the session. */
  subject?: string;
}

/** The front end (for example Auth.js) already redeemed the code and hands the tokens over. */
export interface HandOverRegistration {
  provider: string;
  refreshToken: string;
  accessToken?: string;
  /** When `accessToken` expires, Unix seconds. */
  expiresAt?: number;
  scope?: string;
  /** Your own id for the user (at most 256 characters, no control characters; not a secret): put in every event about the session. */
  subject?: string;
}

export type SessionRegistration = CodeRegistration | HandOverRegistration;

export interface AccessToken {
  accessToken: string;
  tokenType: string;
  /** Unix seconds (FunctionsAuth assumes a default lifetime when the provider gave none). */
  expiresAt: number;
  scope: string | null;
  /** True when this call refreshed the token at the provider, false when it came from storage. */
  refreshed: boolean;
}

export interface RegisteredSession {
  /** The session handle: a secret of your server. Keep it server-side only (e.g. inside the encrypted Auth.js JWT). */
  session: string;
  accessToken: string;
  tokenType: string;
  expiresAt: number;
  scope: string | null;
  /** The ID token, when FunctionsAuth redeemed a code and the provider issued one. */
  idToken?: string;
}

export interface FunctionsAuthClient {
  registerSession(registration: SessionRegistration, options?: CallOptions): Promise<RegisteredSession>;
  getAccessToken(session: string, options?: GetAccessTokenOptions): Promise<AccessToken>;
  revokeSession(session: string, options?: RevokeSessionOptions): Promise<void>;
}

const defaultTimeoutMs = 10_000;
const defaultRetry: Required<RetryOptions> = { maxAttempts: 3, maxDelayMs: 5_000 };

export function createClient(options: ClientOptions): FunctionsAuthClient {
  if (!options.functionKey) {
    throw new TypeError("createClient: functionKey is required.");
  }

  const base = new URL(options.baseUrl);
  if (!base.pathname.endsWith("/")) {
    base.pathname += "/";
  }

  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const retry = options.retry === true ? defaultRetry
    : options.retry ? { ...defaultRetry, ...options.retry }
    : { ...defaultRetry, maxAttempts: 1 };

  async function post(path: string, body: unknown, signal: AbortSignal | undefined): Promise<{ status: number; json: unknown }> {
    signal?.throwIfAborted();
    // Not AbortSignal.timeout(): its timer does not keep the process alive, so a hung request could end a script silently.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new DOMException("FunctionsAuth did not answer in time.", "TimeoutError")), timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;

    let response: Response;
    let json: unknown;
    try {
      response = await fetchImpl(new URL(path, base), {
        method: "POST",
        headers: {
          "content-type": "application/json; charset=utf-8",
          accept: "application/json",
          "x-functions-key": options.functionKey,
          ...(options.callerKey ? { "x-functionsauth-caller-key": options.callerKey } : {}),
        },
        body: JSON.stringify(body),
        signal: combined,
        cache: "no-store",
        redirect: "error",
      });
      const text = await response.text();
      json = text.length > 0 ? safeParse(text) : undefined;
    } catch (error) {
      if (signal?.aborted) {
        throw signal.reason;
      }

      if (timeout.signal.aborted) {
        throw new ConnectionError(0, "timeout", `No answer from FunctionsAuth within ${timeoutMs} ms.`, { cause: error });
      }

      // The cause is kept for diagnostics; it is a transport error and carries no token.
      throw new ConnectionError(0, "network_error", "FunctionsAuth could not be reached.", { cause: error });
    } finally {
      clearTimeout(timer);
    }

    if (!response.ok) {
      throw errorFromResponse(response.status, json, response.headers.get("retry-after"));
    }

    return { status: response.status, json };
  }

  async function withRetry<T>(signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    for (let number = 1; ; number++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof RetryableError) || number >= retry.maxAttempts) {
          throw error;
        }

        const delayMs = error.retryAfter * 1000;
        if (delayMs > retry.maxDelayMs) {
          throw error;
        }

        // Up to 10% later than asked (never earlier), so that many callers do not come back in the same instant.
        await sleep(Math.min(retry.maxDelayMs, delayMs * (1 + Math.random() * 0.1)), signal);
      }
    }
  }

  return {
    async registerSession(registration, callOptions = {}) {
      const { status, json } = await post("api/auth/sessions", toWire(registration), callOptions.signal);
      const body = expectObject(status, json, ["session", "access_token", "token_type", "expires_at"]) as Schemas["SessionCreated"];
      return {
        session: body.session,
        accessToken: body.access_token,
        tokenType: body.token_type,
        expiresAt: body.expires_at,
        scope: body.scope ?? null,
        ...(typeof body.id_token === "string" ? { idToken: body.id_token } : {}),
      };
    },

    async getAccessToken(session, callOptions = {}) {
      requireHandle(session);
      const request: Schemas["RefreshRequest"] = {
        session,
        ...(callOptions.minTtl === undefined ? {} : { min_ttl: callOptions.minTtl }),
        ...(callOptions.scope === undefined ? {} : { scope: callOptions.scope }),
        ...(callOptions.resource === undefined ? {} : { resource: callOptions.resource }),
      };
      return withRetry(callOptions.signal, async () => {
        const { status, json } = await post("api/auth/refresh", request, callOptions.signal);
        const body = expectObject(status, json, ["access_token", "token_type", "expires_at", "refreshed"]) as Schemas["AccessToken"];
        return {
          accessToken: body.access_token,
          tokenType: body.token_type,
          expiresAt: body.expires_at,
          scope: body.scope ?? null,
          refreshed: body.refreshed,
        };
      });
    },

    async revokeSession(session, callOptions = {}) {
      requireHandle(session);
      const request: Schemas["RevokeRequest"] = callOptions.revokeGrant === undefined
        ? { session }
        : { session, revoke_grant: callOptions.revokeGrant };
      await withRetry(callOptions.signal, () => post("api/auth/revoke", request, callOptions.signal));
    },
  };
}

function toWire(registration: SessionRegistration): Schemas["CreateSessionRequest"] {
  if ("code" in registration) {
    const body: Schemas["CodeSessionRequest"] = {
      provider: registration.provider,
      code: registration.code,
      code_verifier: registration.codeVerifier,
      redirect_uri: registration.redirectUri,
      ...(registration.subject === undefined ? {} : { subject: registration.subject }),
    };
    return body;
  }

  if (!registration.refreshToken) {
    // Caught here so the caller learns it before a round trip; typical cause: the provider was not asked for offline access.
    throw new TypeError("registerSession: refreshToken is required (did the provider issue one? ask for offline access).");
  }

  const body: Schemas["HandOverSessionRequest"] = {
    provider: registration.provider,
    refresh_token: registration.refreshToken,
    ...(registration.accessToken === undefined ? {} : { access_token: registration.accessToken }),
    ...(registration.accessToken === undefined || registration.expiresAt === undefined ? {} : { expires_at: registration.expiresAt }),
    ...(registration.scope === undefined ? {} : { scope: registration.scope }),
    ...(registration.subject === undefined ? {} : { subject: registration.subject }),
  };
  return body;
}

function requireHandle(session: string): void {
  if (typeof session !== "string" || session.length === 0) {
    throw new TypeError("A session handle is required.");
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function expectObject(status: number, json: unknown, required: string[]): Record<string, unknown> {
  if (typeof json !== "object" || json === null || required.some((name) => !(name in json))) {
    throw new ConnectionError(status, "unexpected_response", "FunctionsAuth answered with a body that is not the contract's.");
  }

  return json as Record<string, unknown>;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }

    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

