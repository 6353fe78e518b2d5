import NextAuth, { CredentialsSignin } from "next-auth";
import { InvalidGrantError, isTemporary } from "@functionsauth/client";
import { functionsAuth, functionsAuthProvider } from "@/lib/functionsauth";

/**
 * Ends a sign-in whose session FunctionsAuth could not register. Auth.js sends the browser to the sign-in page with
 * `?error=CredentialsSignin&code=<code>`; the code (never a token) says why. CredentialsSignin is the one Auth.js
 * error whose code reaches the page; it is not specific to credentials sign-ins.
 */
class SessionNotRegistered extends CredentialsSignin {
  constructor(code: "no_refresh_token" | "registration_refused" | "try_again" | "registration_failed") {
    super();
    this.code = code;
  }
}

export const { handlers, auth, signIn, signOut } = NextAuth({
  providers: [
    {
      id: "demo",
      name: "Demo provider",
      type: "oidc",
      issuer: process.env.AUTH_DEMO_ISSUER ?? "http://127.0.0.1:5080/",
      clientId: process.env.AUTH_DEMO_ID ?? "demo-app",
      clientSecret: process.env.AUTH_DEMO_SECRET,
      // offline_access: without it the provider issues no refresh token, and there is nothing to hand over.
      authorization: { params: { scope: process.env.AUTH_DEMO_SCOPE ?? "openid offline_access profile email" } },
    },
  ],
  session: { strategy: "jwt" },
  pages: { signIn: "/signin", error: "/signin" },
  callbacks: {
    // The proxy (proxy.ts) asks only this: is there a session? No provider call, no FunctionsAuth call.
    authorized: ({ auth }) => Boolean(auth),

    async jwt({ token, account }) {
      if (!account) {
        return token; // every request after sign-in: the token as the cookie holds it
      }

      // Sign-in: Auth.js has redeemed the code (with its own PKCE). Hand the provider's tokens to FunctionsAuth and
      // keep only the handle. Nothing else from `account` goes into the cookie: no refresh, access or ID token.
      if (!account.refresh_token) {
        console.error("Sign-in refused: the provider issued no refresh token (ask for offline access).");
        throw new SessionNotRegistered("no_refresh_token");
      }

      try {
        const created = await functionsAuth().registerSession({
          provider: functionsAuthProvider(),
          refreshToken: account.refresh_token,
          ...(account.access_token ? { accessToken: account.access_token } : {}),
          ...(account.access_token && account.expires_at ? { expiresAt: account.expires_at } : {}),
          ...(account.scope ? { scope: account.scope } : {}),
        });
        return { sub: token.sub, name: token.name, email: token.email, handle: created.session };
      } catch (error) {
        // The client's errors carry status, code and description, never a token: safe to log.
        console.error("Sign-in refused: FunctionsAuth did not register the session.", error);
        throw new SessionNotRegistered(
          error instanceof InvalidGrantError ? "registration_refused" : isTemporary(error) ? "try_again" : "registration_failed",
        );
      }
    },

    // What the browser can read (useSession, /api/auth/session): the user's name and email, never the handle.
    session({ session, token }) {
      return {
        ...session,
        user: { id: token.sub ?? "", name: token.name ?? null, email: token.email ?? "", emailVerified: null },
      };
    },
  },
  events: {
    // Sign-out ends the session at FunctionsAuth, which revokes the refresh token at the provider.
    async signOut(message) {
      const handle = "token" in message ? message.token?.handle : undefined;
      if (typeof handle !== "string") {
        return;
      }
      try {
        await functionsAuth().revokeSession(handle);
      } catch (error) {
        // The cookie is gone either way; an unrevoked session expires at FunctionsAuth on its own.
        console.error("Sign-out: FunctionsAuth did not revoke the session.", error);
      }
    },
  },
});

declare module "next-auth/jwt" {
  interface JWT {
    /** The FunctionsAuth session handle: a secret of this server, only ever inside the encrypted session cookie. */
    handle?: string;
  }
}
