export { createClient } from "./client.js";
export type {
  AccessToken,
  CallOptions,
  ClientOptions,
  CodeRegistration,
  FunctionsAuthClient,
  GetAccessTokenOptions,
  HandOverRegistration,
  RegisteredSession,
  RetryOptions,
  RevokeSessionOptions,
  SessionRegistration,
} from "./client.js";
export {
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
  RetryableError,
  TemporarilyUnavailableError,
  isSignInRequired,
  isTemporary,
  parseRetryAfter,
} from "./errors.js";
export type { ClientErrorCode, ContractErrorCode, ErrorCode } from "./errors.js";
