"use client";

/** Anything the pages do not handle (a bug or a configuration problem): the details are in the server log. */
export default function ErrorPage({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <>
      <h1>Something went wrong</h1>
      <p className="notice" data-testid="error-page">
        This page could not be shown. You are still signed in; please try again. {error.digest && <>(Reference: {error.digest})</>}
      </p>
      <button type="button" onClick={reset}>Try again</button>
    </>
  );
}
