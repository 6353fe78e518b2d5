import type { ReactNode } from "react";
import Link from "next/link";
import { auth, signOut } from "@/auth";
import "./styles.css";

export const metadata = { title: "FunctionsAuth × Auth.js example" };

export default async function RootLayout({ children }: { children: ReactNode }) {
  const session = await auth();
  return (
    <html lang="en">
      <body>
        <header>
          <nav>
            <Link href="/">Home</Link>
            <Link href="/protected">Protected page</Link>
            <Link href="/protected/again">Another protected page</Link>
            <Link href="/session">Browser session</Link>
          </nav>
          {session?.user ? (
            <form
              action={async () => {
                "use server";
                await signOut({ redirectTo: "/signin?reason=signed_out" });
              }}
            >
              <span data-testid="signed-in-as">Signed in as {session.user.name}</span>
              <button type="submit" data-testid="sign-out">Sign out</button>
            </form>
          ) : (
            <Link href="/signin">Sign in</Link>
          )}
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
