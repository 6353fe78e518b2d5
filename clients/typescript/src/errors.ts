import type { components } from "./generated/openapi.js";

type Schemas = components["schemas"];

/**
 * Every `error` code the contract (docs/openapi.yaml) lists. Derived from the generated types, so a code added to or
 * removed from the contract breaks this package's build until {@link errorClasses} handles it.
 */
export type ContractErrorCode = NonNullable<
  | Schemas["InvalidRequestError"]["error"]
  | Schemas["CreateSessionBadRequestError"]["error"]
  | Schemas["RefreshBadRequestError"]["error"]
  | Schemas["FunctionKeyError"]["error"]
  | Schemas["RefreshUnauthorizedError"]["error"]
  | Schemas["RateLimitedError"]["error"]
  | Schemas["ProviderError"]["error"]
  | Schemas["UnavailableError"]["error"]
  | Schemas["TemporarilyUnavailableError"]["error"]
>;

/** Codes the client itself produces when no answer arrived, or the answer was not the contract's. */
export type ClientErrorCode = "timeout" | "network_error" | "unexpected_response";

export type ErrorCode = ContractErrorCode | ClientErrorCode;

/**
 * Base class of every failure. `status` is the HTTP status (0 when no answer arrived), `code` the contract's `error`
 * code, `description` its `error_description`. Messages never contain a token or a session handle.
 */
export class FunctionsAuthError extends Error {
  override readonly name: string = "FunctionsAuthError";
  readonly status: number;
  /** Typed as string: a newer server may send a code this version does not know. */
  readonly code: ErrorCode | (string & {});
  readonly description: string;

  constructor(status: number, code: string, description: string, options?: { cause?: unknown }) {
    super(`FunctionsAuth answered ${status === 0 ? "nothing" : status} (${code}): ${description}`, options);
    this.status = status;
    this.code = code;
    this.description = description;
  }
}

/** 400 `invalid_request`: the request was malformed (a bug in the caller). Log it; do not retry. */
export class InvalidRequestError extends FunctionsAuthError {
  override readonly name = "InvalidRequestError";
}

/**
 * 400 `invalid_scope` from getAccessToken with `scope` or `resource`: not allowed for this session (the provider's
 * `AllowedScopes`/`AllowedResources`, or beyond the session's grant), or refused by the provider. The session is
 * unchanged: a configuration problem or a bug in the caller. Log it; do not retry.
 */
export class InvalidScopeError extends FunctionsAuthError {
  override readonly name = "InvalidScopeError";
}

/**
 * 400 `invalid_grant` from registerSession: the provider refused the code or refresh token, or issued no refresh token
 * (ask for offline access). End the sign-in with an error; do not create a session without a handle.
 */
export class InvalidGrantError extends FunctionsAuthError {
  override readonly name = "InvalidGrantError";
}

/** 401 `invalid_client`: the function key is missing or wrong. A configuration problem. */
export class InvalidClientError extends FunctionsAuthError {
  override readonly name = "InvalidClientError";
}

/** 401 `invalid_session`: the handle is unknown, revoked or expired. Send the user to sign in. */
export class InvalidSessionError extends FunctionsAuthError {
  override readonly name = "InvalidSessionError";
}

/** 401 `reauth_required`: the provider no longer accepts the session's refresh token. Send the user to sign in. */
export class ReauthRequiredError extends FunctionsAuthError {
  override readonly name = "ReauthRequiredError";
}

/** 502 `provider_error`: the provider rejected the request for a reason retrying will not fix. Log it. */
export class ProviderError extends FunctionsAuthError {
  override readonly name = "ProviderError";
}

/** A failure that goes away by itself: keep the user signed in and try again after {@link retryAfter} seconds. */
export abstract class RetryableError extends FunctionsAuthError {
  /** Seconds to wait before trying again, from the `Retry-After` header (at least 1). */
  readonly retryAfter: number;

  constructor(status: number, code: string, description: string, retryAfter: number, options?: { cause?: unknown }) {
    super(status, code, description, options);
    this.retryAfter = retryAfter;
  }
}

/** 429 `rate_limited`: the provider is rate-limiting token requests, or (registration only) FunctionsAuth is limiting refused registrations. */
export class RateLimitedError extends RetryableError {
  override readonly name = "RateLimitedError";
}

/** 503 `provider_unavailable`: the provider is down or timed out, and no still-valid access token is stored. */
export class ProviderUnavailableError extends RetryableError {
  override readonly name = "ProviderUnavailableError";
}

/** 503 `temporarily_unavailable`: FunctionsAuth's own storage or Key Vault is unreachable. */
export class TemporarilyUnavailableError extends RetryableError {
  override readonly name = "TemporarilyUnavailableError";
}

/**
 * No answer: the time-out elapsed (`timeout`) or the connection failed (`network_error`); or an answer that is not
 * the contract's (`unexpected_response`). `status` is 0 unless an answer arrived. Treat like a temporary outage.
 */
export class ConnectionError extends FunctionsAuthError {
  override readonly name = "ConnectionError";
}

type ErrorClass = new (status: number, code: string, description: string) => FunctionsAuthError;
type RetryableClass = new (status: number, code: string, description: string, retryAfter: number) => RetryableError;

/** One entry per contract code: the compiler checks that every code the contract lists has its class. */
const errorClasses: { [C in ContractErrorCode]: { retryable: false; type: ErrorClass } | { retryable: true; type: RetryableClass } } = {
  invalid_request: { retryable: false, type: InvalidRequestError },
  invalid_grant: { retryable: false, type: InvalidGrantError },
  invalid_scope: { retryable: false, type: InvalidScopeError },
  invalid_client: { retryable: false, type: InvalidClientError },
  invalid_session: { retryable: false, type: InvalidSessionError },
  reauth_required: { retryable: false, type: ReauthRequiredError },
  provider_error: { retryable: false, type: ProviderError },
  rate_limited: { retryable: true, type: RateLimitedError },
  provider_unavailable: { retryable: true, type: ProviderUnavailableError },
  temporarily_unavailable: { retryable: true, type: TemporarilyUnavailableError },
};

/** The error for an answer that is not a success, from its status, body and `Retry-After` header. */
export function errorFromResponse(status: number, body: unknown, retryAfterHeader: string | null, now = Date.now()): FunctionsAuthError {
  const { error, description } = readErrorBody(body);
  const code = error ?? fallbackCode(status);
  const text = description ?? `HTTP ${status} without an error description`;
  const entry = Object.hasOwn(errorClasses, code) ? errorClasses[code as ContractErrorCode] : undefined;

  if (entry?.retryable) {
    return new entry.type(status, code, text, parseRetryAfter(retryAfterHeader, now));
  }

  if (entry) {
    return new entry.type(status, code, text);
  }

  // An unknown code on 429/503 is still "try again later" by the contract's rules.
  if (status === 429 || status === 503) {
    const type = status === 429 ? RateLimitedError : TemporarilyUnavailableError;
    return new type(status, code, text, parseRetryAfter(retryAfterHeader, now));
  }

  return new FunctionsAuthError(status, code, text);
}

/** Answers with an empty body: on Azure the platform's own key check answers 401 without one. */
function fallbackCode(status: number): string {
  switch (status) {
    case 401:
      return "invalid_client";
    case 429:
      return "rate_limited";
    case 503:
      return "temporarily_unavailable";
    default:
      return "unexpected_response";
  }
}

function readErrorBody(body: unknown): { error?: string; description?: string } {
  if (typeof body !== "object" || body === null) {
    return {};
  }

  const { error, error_description: description } = body as Record<string, unknown>;
  return {
    ...(typeof error === "string" && error.length > 0 && error.length <= 100 ? { error } : {}),
    ...(typeof description === "string" && description.length > 0 ? { description: description.slice(0, 500) } : {}),
  };
}

/** `Retry-After` as seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP date); at least 1, 1 when absent. */
export function parseRetryAfter(value: string | null, now = Date.now()): number {
  if (value === null || value.trim() === "") {
    return 1;
  }

  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Math.max(1, Number.parseInt(trimmed, 10));
  }

  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? 1 : Math.max(1, Math.ceil((date - now) / 1000));
}

/** True for the errors that mean "send the user to sign in again". */
export function isSignInRequired(error: unknown): error is ReauthRequiredError | InvalidSessionError {
  return error instanceof ReauthRequiredError || error instanceof InvalidSessionError;
}

/** True for the errors that mean "keep the user signed in and try again shortly". */
export function isTemporary(error: unknown): error is RetryableError | ConnectionError {
  return error instanceof RetryableError || (error instanceof ConnectionError && error.code !== "unexpected_response");
}
