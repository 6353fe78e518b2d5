import { ResourceView } from "./resource-view";

export const dynamic = "force-dynamic";

export default function ProtectedPage() {
  return (
    <>
      <h1>Protected page</h1>
      <ResourceView />
    </>
  );
}
