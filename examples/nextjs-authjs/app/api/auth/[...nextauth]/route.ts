import { handlers } from "@/auth";

// Next rewrites 127.0.0.1 and [::1] to `localhost` in request URLs (NextURL), and Auth.js derives the redirect_uri of
// the code exchange from the request URL: serve the app as http://localhost:<port> (AUTH_URL, the provider's
// registered redirect URI, the browser), or the provider refuses the exchange for a redirect_uri mismatch.
export const { GET, POST } = handlers;
