import "server-only";
import { redirect } from "next/navigation";
import { accessToken } from "@/lib/access-token";

/** A real protected resource: the provider's userinfo endpoint, called with the user's access token. */
const resourceUrl = () =>
  process.env.PROTECTED_RESOURCE_URL ?? new URL("connect/userinfo", process.env.AUTH_DEMO_ISSUER ?? "http://127.0.0.1:5080/").href;

export type ResourceResult =
  | { kind: "ok"; status: number; claims: Record<string, unknown>; expiresAt: number; refreshed: boolean }
  | { kind: "unavailable"; retryAfter: number };

export async function callProtectedResource(): Promise<ResourceResult> {
  let token = await accessToken();
  if (token.kind === "unavailable") {
    return token;
  }

  let response = await callWith(token.token.accessToken);
  if (response.status === 401) {
    // The provider rejects a token FunctionsAuth still holds as valid (e.g. the grant was revoked at the provider).
    // Ask once for a new one: a min_ttl just above what this token has left makes FunctionsAuth refresh, which either
    // yields a working token or tells us the grant is gone (reauth_required: accessToken() sends the user to sign in).
    token = await accessToken({ minTtl: justMoreThan(token.token.expiresAt) });
    if (token.kind === "unavailable") {
      return token;
    }
    response = await callWith(token.token.accessToken);
  }

  if (response.status === 401) {
    redirect("/session-ended?reason=token_rejected");
  }

  if (!response.ok) {
    throw new Error(`The protected resource answered ${response.status}.`);
  }

  return {
    kind: "ok",
    status: response.status,
    claims: (await response.json()) as Record<string, unknown>,
    expiresAt: token.token.expiresAt,
    refreshed: token.token.refreshed,
  };
}

/**
 * A min_ttl the token expiring at `expiresAt` no longer meets: FunctionsAuth refreshes for it (once the token is older
 * than a twentieth of its lifetime, at most a minute; a younger one is as fresh as a refresh would make it).
 */
export function justMoreThan(expiresAt: number): number {
  return Math.max(0, expiresAt - Math.floor(Date.now() / 1000)) + 1;
}

export function callWith(token: string): Promise<Response> {
  return fetch(resourceUrl(), {
    headers: { authorization: `Bearer ${token}` },
    cache: "no-store",
    signal: AbortSignal.timeout(10_000),
  });
}
