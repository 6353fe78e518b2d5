import { SessionView } from "./session-view";

export default function SessionPage() {
  return (
    <>
      <h1>The session as the browser sees it</h1>
      <p>This is what <code>useSession()</code> returns in the browser:</p>
      <SessionView />
    </>
  );
}
