import "server-only";
import { createClient, type FunctionsAuthClient } from "@functionsauth/client";

let client: FunctionsAuthClient | undefined;

/** The FunctionsAuth client of this server. The function key is a server secret: this module never reaches a browser. */
export function functionsAuth(): FunctionsAuthClient {
  client ??= createClient({
    baseUrl: required("FUNCTIONSAUTH_URL"),
    functionKey: required("FUNCTIONSAUTH_FUNCTION_KEY"),
    timeoutMs: 10_000,
    // A page waits at most ~2 s more for a short outage; longer Retry-After values go to the page as "try again shortly".
    retry: { maxAttempts: 2, maxDelayMs: 2_000 },
  });
  return client;
}

/** The provider's name in FunctionsAuth's configuration (FunctionsAuth__Providers__<name>__...). */
export const functionsAuthProvider = () => process.env.FUNCTIONSAUTH_PROVIDER ?? "demo";

/** Seconds a token handed to a page must still be valid for. */
export const minTtl = () => Number(process.env.FUNCTIONSAUTH_MIN_TTL ?? 60);

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set (see .env.example).`);
  }
  return value;
}
