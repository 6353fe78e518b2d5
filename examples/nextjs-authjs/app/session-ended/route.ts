import { type NextRequest } from "next/server";
import { isSignInRequired } from "@functionsauth/client";
import { currentHandle, sessionCookieName } from "@/lib/access-token";
import { functionsAuth } from "@/lib/functionsauth";
import { callWith, justMoreThan } from "@/lib/protected-resource";

const reasons = new Set(["reauth_required", "invalid_session", "token_rejected"]);

/**
 * Where pages send the browser when FunctionsAuth says the session is over: ends the Auth.js session too, then shows
 * the sign-in page with the reason. Without this the stale cookie would stay, the header would still say "signed in",
 * and Auth.js's proxy, which re-issues the cookie on every request it sees, could overwrite a new sign-in's cookie
 * with the old one from a request still in flight. Server components cannot delete cookies; a route handler can.
 */
export async function GET(request: NextRequest) {
  const reason = request.nextUrl.searchParams.get("reason") ?? "";
  if (!reasons.has(reason)) {
    return seeOther("/signin");
  }

  // Only a session that is over is ended here (FunctionsAuth says so, or the resource rejects its freshest token), so
  // a link from another site cannot sign anyone out.
  const handle = await currentHandle();
  if (handle) {
    try {
      let token = await functionsAuth().getAccessToken(handle, { minTtl: 0 });
      if (reason === "token_rejected" && (await callWith(token.accessToken)).status === 401) {
        token = await functionsAuth().getAccessToken(handle, { minTtl: justMoreThan(token.expiresAt) });
      }

      if (reason !== "token_rejected" || (await callWith(token.accessToken)).status !== 401) {
        return seeOther("/");
      }
    } catch (error) {
      if (!isSignInRequired(error)) {
        return seeOther(`/signin?reason=${reason}`);
      }
    }
    await functionsAuth().revokeSession(handle).catch(() => undefined); // tidy up; revocation is idempotent
  }

  const response = seeOther(`/signin?reason=${reason}`);
  const name = sessionCookieName();
  for (const cookie of request.cookies.getAll()) {
    if (cookie.name === name || cookie.name.startsWith(`${name}.`)) {
      response.headers.append("set-cookie", `${cookie.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${name.startsWith("__Secure-") ? "; Secure" : ""}`);
    }
  }
  return response;
}

/** A relative Location: right behind any proxy, whatever host name this server thinks it has. */
function seeOther(location: string): Response {
  return new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } });
}
