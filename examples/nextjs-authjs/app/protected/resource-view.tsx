import { callProtectedResource } from "@/lib/protected-resource";

/** Server component: calls the protected resource with a token from FunctionsAuth and shows what it answered. */
export async function ResourceView() {
  const result = await callProtectedResource();

  if (result.kind === "unavailable") {
    return (
      <p className="notice" data-testid="try-again">
        The sign-in service is temporarily unavailable. You are still signed in: please try again shortly (in about{" "}
        {result.retryAfter} s).
      </p>
    );
  }

  const secondsLeft = result.expiresAt - Math.floor(Date.now() / 1000);
  return (
    <section data-testid="resource" data-status={result.status}>
      <p className="ok">The provider accepted the access token (userinfo answered {result.status}).</p>
      <dl>
        <dt>User</dt>
        <dd data-testid="resource-sub">{String(result.claims.sub)}</dd>
        <dt>Email</dt>
        <dd>{String(result.claims.email ?? "–")}</dd>
        <dt>Token valid for</dt>
        <dd>{secondsLeft} s more</dd>
        <dt>Token source</dt>
        <dd data-testid="token-source">{result.refreshed ? "refreshed at the provider for this request" : "served by FunctionsAuth from storage"}</dd>
      </dl>
      <h2>Userinfo response</h2>
      <pre data-testid="userinfo">{JSON.stringify(result.claims, null, 2)}</pre>
      <p>The access token itself never leaves this server; the browser only has an encrypted cookie with a session handle.</p>
    </section>
  );
}
