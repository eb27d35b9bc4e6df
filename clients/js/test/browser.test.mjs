// The client in real Chromium tabs (Debian's chromium, driven by
// puppeteer-core): six tabs of one user calling through many refreshes, a
// tab that dies holding the refresh, sign-out reaching every tab, and a
// passkey made and used by a virtual authenticator.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { execFileSync } from "node:child_process";

import puppeteer from "puppeteer-core";
import { startWarrant } from "./server.mjs";
import { base32, totp } from "./totp.mjs";

const PASSWORD = "correct horse battery";
let page_server, page_origin, warrant, browser;

function chromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"]).toString().trim();
  } catch {
    return null;
  }
}

const executable = chromium();

before(async () => {
  if (!executable) return;
  // The app's page, on an origin of its own (CORS) that is also the
  // passkeys' relying party (localhost).
  const repo = resolve(import.meta.dirname, "../../..");
  page_server = createServer((req, res) => {
    const path = req.url.split("?")[0];
    if (path === "/examples/spa/" || path === "/clients/js/dist/warrant.js") {
      const file = resolve(repo, `.${path}${path.endsWith("/") ? "index.html" : ""}`);
      res.writeHead(200, { "Content-Type": path.endsWith(".js") ? "text/javascript" : "text/html" });
      res.end(readFileSync(file));
    } else if (req.url === "/warrant.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(readFileSync(resolve(import.meta.dirname, "../dist/warrant.js")));
    } else {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(`<!doctype html><script type="module">
        import { createClient } from "/warrant.js";
        window.auth = createClient({ baseUrl: new URLSearchParams(location.search).get("api") });
        window.events = [];
        auth.onChange((event) => events.push(event));
        await auth.ready;
        window.loaded = true;
      </script>`);
    }
  });
  await new Promise((r) => page_server.listen(0, "127.0.0.1", r));
  page_origin = `http://localhost:${page_server.address().port}`;
  warrant = await startWarrant({
    WARRANT_ACCESS_TTL: "2",
    WARRANT_CORS_ORIGINS: page_origin,
    WARRANT_WEBAUTHN_RP_ID: "localhost",
    WARRANT_WEBAUTHN_ORIGINS: page_origin,
  });
  browser = await puppeteer.launch({
    executablePath: executable,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  await browser?.close();
  warrant?.stop();
  page_server?.close();
});

async function tab() {
  const page = await browser.newPage();
  await page.goto(`${page_origin}/?api=${encodeURIComponent(warrant.base)}`);
  await page.waitForFunction(() => window.loaded === true);
  return page;
}

test("six tabs of one user call through many refreshes and none is signed out", { skip: !executable && "no chromium" }, async () => {
  const first = await tab();
  await first.evaluate((password) => auth.signUp({ username: "alice", password }), PASSWORD);
  const tabs = [first, ...(await Promise.all([1, 2, 3, 4, 5].map(tab)))];
  for (const page of tabs) assert.equal(await page.evaluate(() => auth.user?.username), "alice");
  const reuse = await warrant.metric('warrant_refreshes_total{result="reuse"}');
  const invalid = await warrant.metric('warrant_refreshes_total{result="invalid"}');
  const refreshed = await warrant.metric('warrant_refreshes_total{result="ok"}');
  const repeated = await warrant.metric('warrant_refreshes_total{result="repeat"}');
  // A minute of calls from every tab at once, tokens living two seconds.
  const seconds = Number(process.env.TABS_SECONDS ?? 60);
  const statuses = await Promise.all(
    tabs.map((page) =>
      page.evaluate(async (seconds) => {
        const seen = [];
        const until = Date.now() + seconds * 1_000;
        while (Date.now() < until) {
          seen.push((await auth.fetch("/posts")).status);
          await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
        }
        return seen;
      }, seconds),
    ),
  );
  const calls = statuses.flat();
  assert.ok(calls.length > 6 * seconds * 4, `calls: ${calls.length}`);
  assert.deepEqual([...new Set(calls)], [200], "every call answered 200");
  for (const page of tabs) {
    const events = await page.evaluate(() => window.events);
    assert.ok(!events.includes("signed-out"), `no tab signed out: ${events}`);
  }
  const refreshes = (await warrant.metric('warrant_refreshes_total{result="ok"}')) - refreshed;
  const repeats = (await warrant.metric('warrant_refreshes_total{result="repeat"}')) - repeated;
  // One refresh per token lifetime for all tabs together (each refreshes
  // a margin of a quarter of the lifetime early), not one per tab.
  const lifetimes = seconds / 2;
  console.log(`six tabs, ${seconds} s: ${calls.length} calls, 0 failed, ${refreshes} refreshes (+${repeats} repeats in the grace window) for ${lifetimes} token lifetimes`);
  assert.ok(refreshes >= lifetimes * 0.8 && refreshes + repeats <= lifetimes * 2, `${refreshes} + ${repeats} refreshes for ${lifetimes} lifetimes`);
  assert.equal(await warrant.metric('warrant_refreshes_total{result="reuse"}'), reuse, "no refresh counted as reuse");
  assert.equal(await warrant.metric('warrant_refreshes_total{result="invalid"}'), invalid);

  // A tab closes while holding the refresh: the others wait out its lease, no longer.
  await first.evaluate(() =>
    localStorage.setItem("warrant.refresh-lease", JSON.stringify({ owner: "closed tab", until: Date.now() + 5_000 })),
  );
  await first.close();
  await new Promise((r) => setTimeout(r, 2_000));
  const started = Date.now();
  const after_lease = await Promise.all(tabs.slice(1).map((page) => page.evaluate(async () => (await auth.fetch("/me")).status)));
  assert.deepEqual(after_lease, [200, 200, 200, 200, 200]);
  assert.ok(Date.now() - started < 9_000, "held up by the dead tab's lease at most");

  // Logging out in one tab signs every tab out, within a second.
  const loggedOut = Date.now();
  await tabs[1].evaluate(() => auth.logOut());
  await Promise.all(tabs.slice(1).map((page) => page.waitForFunction(() => auth.user === null, { timeout: 1_000 })));
  console.log(`a logout reached every tab in ${Date.now() - loggedOut} ms`);
  for (const page of tabs.slice(1)) {
    assert.equal(await page.evaluate(() => auth.user), null);
    assert.ok((await page.evaluate(() => window.events)).includes("signed-out"));
    assert.equal(await page.evaluate(async () => (await auth.fetch("/me")).status), 401);
  }
  for (const page of tabs.slice(1)) await page.close();
});

test("two-factor login works from the library in the browser", { skip: !executable && "no chromium" }, async () => {
  const page = await tab();
  await page.evaluate((password) => auth.signUp({ username: "carol", password }), PASSWORD);
  const enrolment = await page.evaluate(async (password) => {
    const res = await auth.fetch("/me/mfa/totp", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ password }) });
    return res.json();
  }, PASSWORD);
  const secret = base32(enrolment.secret);
  const confirmed = await page.evaluate(async (code) => {
    const res = await auth.fetch("/me/mfa/totp/confirm", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }) });
    return res.status;
  }, await totp(secret));
  assert.equal(confirmed, 200);
  await page.evaluate(() => auth.logOut());
  const status = await page.evaluate((password) => auth.logIn({ username: "carol", password }).then((r) => { window.pending = r; return r.status; }), PASSWORD);
  assert.equal(status, "mfa-required");
  const user = await page.evaluate((code) => window.pending.complete(code), await totp(secret, 1));
  assert.equal(user.username, "carol");
  assert.equal(await page.evaluate(async () => (await auth.fetch("/me")).status), 200);
  await page.close();
});


test("a passkey made by a virtual authenticator logs in with no name typed", { skip: !executable && "no chromium" }, async () => {
  const page = await tab();
  const cdp = await page.createCDPSession();
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  await page.evaluate((password) => auth.signUp({ username: "bob", password }), PASSWORD);
  const created = await page.evaluate((password) => auth.registerPasskey({ password, name: "This browser" }), PASSWORD);
  assert.equal(created.name, "This browser");
  await page.evaluate(() => auth.logOut());
  assert.equal(await page.evaluate(() => auth.user), null);
  const user = await page.evaluate(() => auth.logInWithPasskey());
  assert.equal(user.username, "bob");
  const me = await page.evaluate(async () => (await auth.fetch("/me")).json());
  assert.equal(me.passkeys, 1);
  await page.close();
});

test("the example app signs up, posts, lists its sessions and logs out", { skip: !executable && "no chromium" }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${page_origin}/examples/spa/?api=${encodeURIComponent(warrant.base)}`);
  // A visitor nobody signed in yet (the tests before left a session in this origin's storage).
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await page.waitForSelector("#signed-out:not([hidden])", { timeout: 5_000 });
  await page.type("input[name=username]", "dora");
  await page.type("input[name=password]", PASSWORD);
  await page.click("button[value=signup]");
  await page.waitForSelector("#signed-in:not([hidden])", { timeout: 5_000 });
  await page.type("input[name=content]", "hello from the example");
  await page.click("#post button");
  await page.waitForFunction(() => document.querySelector("#posts").textContent.includes("hello from the example"));
  assert.match(await page.$eval("#sessions", (e) => e.textContent), /this one/);
  await page.click("#logout");
  await page.waitForSelector("#signed-out:not([hidden])", { timeout: 5_000 });
  assert.deepEqual(errors, []);
  await page.close();
});
