import { ResourceView } from "../resource-view";

export const dynamic = "force-dynamic";

export default function AnotherProtectedPage() {
  return (
    <>
      <h1>Another protected page</h1>
      <ResourceView />
    </>
  );
}
