// The README's TypeScript webhook verification ("Session events"), run as written: transpiled from the README itself,
// checked against the Standard Webhooks specification's published example (which FunctionsAuth's signer reproduces,
// WebhookSignatureTests), a tampered body, a wrong secret and a stale timestamp.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import ts from "typescript";

const readme = await readFile(new URL("../../../README.md", import.meta.url), "utf8");
const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).find((code) => code.includes("isFromFunctionsAuth"));
assert.ok(block, "README has the TypeScript verification snippet");
const { outputText } = ts.transpileModule(block, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
const { isFromFunctionsAuth } = await import("data:text/javascript," + encodeURIComponent(outputText));

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const body = Buffer.from('{"test": 2432232314}');
const headers = new Headers({
  "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
  "webhook-timestamp": "1614265330",
  "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
});

function at(unixSeconds, check) {
  const now = Date.now;
  Date.now = () => unixSeconds * 1000;
  try {
    return check();
  } finally {
    Date.now = now;
  }
}

test("README snippet: the specification's example verifies, with a timestamp that is fresh", () => {
  assert.equal(at(1614265330 + 60, () => isFromFunctionsAuth(secret, headers, body)), true);
});

test("README snippet: a tampered body, another secret or a stale timestamp does not", () => {
  assert.equal(at(1614265330, () => isFromFunctionsAuth(secret, headers, Buffer.from('{"test": 2432232315}'))), false);
  assert.equal(at(1614265330, () => isFromFunctionsAuth("whsec_" + Buffer.alloc(24, 7).toString("base64"), headers, body)), false);
  assert.equal(at(1614265330 + 301, () => isFromFunctionsAuth(secret, headers, body)), false);
});
