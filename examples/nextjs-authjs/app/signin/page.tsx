import { signIn } from "@/auth";

/** Why the user is here, in words. Keys come from this app (`reason`) or from Auth.js (`error`, `code`). */
const reasons: Record<string, string> = {
  reauth_required: "Your sign-in is no longer accepted by the provider (it was revoked or has expired). Please sign in again.",
  invalid_session: "Your session has ended. Please sign in again.",
  token_rejected: "The provider no longer accepts your sign-in. Please sign in again.",
  no_session: "Please sign in to see this page.",
  signed_out: "You are signed out.",
  no_refresh_token: "Sign-in could not be completed: the provider did not grant offline access (no refresh token), so no session was created.",
  registration_refused: "Sign-in could not be completed: the provider refused the tokens, so no session was created.",
  try_again: "Sign-in could not be completed because the sign-in service is temporarily unavailable. Please try again shortly.",
  registration_failed: "Sign-in could not be completed: the session could not be registered. Please try again.",
  Configuration: "Sign-in could not be completed because of a server problem. Please try again later.",
  AccessDenied: "Sign-in was refused.",
};

export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const { reason, error, code, callbackUrl } = await searchParams;
  const key = reason ?? (error === "CredentialsSignin" ? code : error);
  const message = key ? reasons[key] ?? "Please sign in." : undefined;
  // Only a path of this site (Auth.js's proxy passes a full URL): never an open redirect to another host.
  const back = callbackUrl ? new URL(callbackUrl, "http://this-site") : undefined;
  const redirectTo = back && back.pathname !== "/signin" ? back.pathname + back.search : "/protected";

  return (
    <>
      <h1>Sign in</h1>
      {message && <p className="notice" data-testid="signin-reason" data-reason={key}>{message}</p>}
      <form
        action={async () => {
          "use server";
          await signIn("demo", { redirectTo });
        }}
      >
        <button type="submit" data-testid="sign-in">Sign in with the demo provider</button>
      </form>
    </>
  );
}
