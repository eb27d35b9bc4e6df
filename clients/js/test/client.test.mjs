// The client in Node against a real warrant: sign-up and calls, refreshes
// shared by two "tabs" on one storage, typed errors, sign-out everywhere.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { createClient, WarrantError } from "../dist/warrant.js";
import { startWarrant } from "./server.mjs";
import { base32, totp } from "./totp.mjs";

const PASSWORD = "correct horse battery";
let server;

before(async () => {
  server = await startWarrant({ WARRANT_ACCESS_TTL: "2" });
});
after(() => server.stop());

/** One storage two clients share, with other clients' writes as events, as tabs see localStorage. */
function sharedStorage() {
  const items = new Map();
  const listeners = new Set();
  return (owner) => ({
    getItem: (key) => items.get(key) ?? null,
    setItem(key, value) {
      items.set(key, value);
      for (const l of listeners) if (l.owner !== owner) l.fn(key);
    },
    removeItem(key) {
      items.delete(key);
      for (const l of listeners) if (l.owner !== owner) l.fn(key);
    },
    subscribe(key, fn) {
      const entry = { owner, fn: (changed) => changed === key && fn() };
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
  });
}

test("a signed-up user calls protected routes, and the token is refreshed before it expires", async () => {
  const auth = createClient({ baseUrl: server.base, storage: "memory" });
  const events = [];
  auth.onChange((event) => events.push(event));
  const user = await auth.signUp({ username: "alice", password: PASSWORD });
  assert.equal(user.username, "alice");
  assert.equal(auth.user.id, user.id);
  assert.equal((await auth.fetch("/me")).status, 200);
  await new Promise((r) => setTimeout(r, 1_700));
  const me = await auth.fetch("/me");
  assert.equal(me.status, 200);
  assert.deepEqual(events, ["signed-in", "refreshed"]);
});

test("errors are typed problem details", async () => {
  const auth = createClient({ baseUrl: server.base, storage: "memory" });
  await assert.rejects(auth.logIn({ username: "nobody", password: PASSWORD }), (error) => {
    assert.ok(error instanceof WarrantError);
    assert.equal(error.code, "invalid_credentials");
    assert.equal(error.status, 401);
    assert.match(error.detail, /wrong password/);
    return true;
  });
  await assert.rejects(auth.signUp({ username: "x", password: PASSWORD }), (error) => error.code === "validation_failed");
  const offline = createClient({ baseUrl: "http://127.0.0.1:9", storage: "memory" });
  await assert.rejects(offline.logIn({ username: "a", password: PASSWORD }), (error) => error.code === "network_error");
});

test("two tabs on one storage refresh once and both go on", async () => {
  const storage = sharedStorage();
  const one = createClient({ baseUrl: server.base, storage: storage("one") });
  const two = createClient({ baseUrl: server.base, storage: storage("two") });
  await one.signUp({ username: "bob", password: PASSWORD });
  await two.ready;
  assert.equal(two.user?.username, "bob", "the other tab adopts the session");
  const before = await server.metric('warrant_refreshes_total{result="ok"}');
  const reuse = await server.metric('warrant_refreshes_total{result="reuse"}');
  await new Promise((r) => setTimeout(r, 1_700));
  const answers = await Promise.all([one.fetch("/me"), two.fetch("/me"), one.fetch("/me"), two.fetch("/me")]);
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200]);
  assert.equal((await server.metric('warrant_refreshes_total{result="ok"}')) - before, 1, "one refresh for both");
  assert.equal(await server.metric('warrant_refreshes_total{result="reuse"}'), reuse, "no reuse");
});

test("a revoked session signs out, and logging out revokes it on the server", async () => {
  const storage = sharedStorage();
  const auth = createClient({ baseUrl: server.base, storage: storage("a") });
  const other = createClient({ baseUrl: server.base, storage: "memory" });
  await auth.signUp({ username: "carol", password: PASSWORD });
  await other.logIn({ username: "carol", password: PASSWORD });
  await other.sessions.endOthers();
  // The revocation reaches this instance's mirror at once (same instance).
  const res = await auth.fetch("/me");
  assert.equal(res.status, 401);
  assert.equal(auth.user, null, "token_revoked signs out");

  const events = [];
  other.onChange((event) => events.push(event));
  const token = (await other.sessions.list()).items.find((s) => s.current);
  assert.ok(token, "the current session is listed");
  await other.logOut();
  assert.equal(other.user, null);
  assert.deepEqual(events, ["signed-out"]);
  assert.equal((await other.fetch("/me")).status, 401);
});

test("an account with TOTP on logs in with its code", async () => {
  const auth = createClient({ baseUrl: server.base, storage: "memory" });
  await auth.signUp({ username: "dave", password: PASSWORD });
  const enrolment = await (await auth.fetch("/me/mfa/totp", jsonBody("POST", { password: PASSWORD }))).json();
  const secret = base32(enrolment.secret);
  const confirm = await auth.fetch("/me/mfa/totp/confirm", jsonBody("POST", { code: await totp(secret) }));
  assert.equal(confirm.status, 200);
  const again = createClient({ baseUrl: server.base, storage: "memory" });
  const result = await again.logIn({ username: "dave", password: PASSWORD });
  assert.equal(result.status, "mfa-required");
  // The next step's code: the current one was spent confirming, and the
  // server takes a step either side (clock drift).
  const user = await result.complete(await totp(secret, 1));
  assert.equal(user.username, "dave");
  assert.equal((await again.fetch("/me")).status, 200);
});

function jsonBody(method, body) {
  return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}
