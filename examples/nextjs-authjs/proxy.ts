// Next 16's proxy (formerly middleware): checks only that an Auth.js session cookie exists and decrypts; the
// `authorized` callback in auth.ts sends everyone else to the sign-in page. No provider or FunctionsAuth call here.
export { auth as proxy } from "@/auth";

export const config = {
  matcher: ["/protected/:path*", "/session"],
};
