import "server-only";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { getToken } from "next-auth/jwt";
import { ReauthRequiredError, InvalidSessionError, isTemporary, type AccessToken } from "@functionsauth/client";
import { functionsAuth, minTtl } from "@/lib/functionsauth";

// Auth.js names the cookie __Secure-authjs.session-token on https, authjs.session-token on http.
const secureCookie = () => process.env.AUTH_URL?.startsWith("https://") ?? process.env.NODE_ENV === "production";
export const sessionCookieName = () => (secureCookie() ? "__Secure-authjs.session-token" : "authjs.session-token");

/** The FunctionsAuth handle of the signed-in user, read from the encrypted Auth.js cookie on this server. */
export async function currentHandle(): Promise<string | undefined> {
  const token = await getToken({ req: { headers: await headers() }, secret: process.env.AUTH_SECRET, secureCookie: secureCookie() });
  return typeof token?.handle === "string" ? token.handle : undefined;
}

export type TokenResult =
  | { kind: "token"; token: AccessToken }
  | { kind: "unavailable"; retryAfter: number };

/**
 * An access token for the signed-in user, from FunctionsAuth, on the server. Sends the browser to sign in when
 * FunctionsAuth says the session is over; answers "unavailable" (keep the user signed in) for outages.
 */
export async function accessToken(options: { minTtl?: number } = {}): Promise<TokenResult> {
  const handle = await currentHandle();
  if (!handle) {
    redirect("/signin?reason=no_session");
  }

  let reason: string;
  try {
    return { kind: "token", token: await functionsAuth().getAccessToken(handle, { minTtl: options.minTtl ?? minTtl() }) };
  } catch (error) {
    if (error instanceof ReauthRequiredError) {
      reason = "reauth_required";
    } else if (error instanceof InvalidSessionError) {
      reason = "invalid_session";
    } else if (isTemporary(error)) {
      console.warn("FunctionsAuth is temporarily unavailable.", error);
      return { kind: "unavailable", retryAfter: "retryAfter" in error ? error.retryAfter : 5 };
    } else {
      throw error; // a bug or a configuration problem: the error page, and the log
    }
  }

  // redirect() throws; it stays out of the try block so that the catch above does not swallow it. /session-ended
  // ends the Auth.js session as well, then shows the sign-in page with the reason.
  redirect(`/session-ended?reason=${reason}`);
}
