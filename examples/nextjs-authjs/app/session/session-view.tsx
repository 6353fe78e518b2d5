"use client";
import { SessionProvider, useSession } from "next-auth/react";

function View() {
  const { data, status } = useSession();
  return <pre data-testid="browser-session" data-status={status}>{JSON.stringify(data, null, 2)}</pre>;
}

/** What browser code can read about the session: the user, never a token or the FunctionsAuth handle. */
export function SessionView() {
  return (
    <SessionProvider>
      <View />
    </SessionProvider>
  );
}
