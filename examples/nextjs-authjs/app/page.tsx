import Link from "next/link";
import { auth } from "@/auth";

export default async function Home() {
  const session = await auth();
  return (
    <>
      <h1>FunctionsAuth × Auth.js</h1>
      <p>
        This Next.js app signs you in with Auth.js, hands the provider&apos;s tokens to FunctionsAuth and keeps only an
        opaque session handle in its encrypted session cookie. Pages get access tokens from FunctionsAuth, on the server.
      </p>
      {session ? <Link href="/protected">Go to the protected page</Link> : <Link href="/signin">Sign in</Link>}
    </>
  );
}
