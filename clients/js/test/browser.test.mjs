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
  page_server = createServer((req, res) => {
    if (req.url === "/warrant.js") {
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
  // Eight seconds of calls from every tab at once, tokens living two.
  const statuses = await Promise.all(
    tabs.map((page) =>
      page.evaluate(async () => {
        const seen = [];
        const until = Date.now() + 8_000;
        while (Date.now() < until) {
          seen.push((await auth.fetch("/me")).status);
          await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
        }
        return seen;
      }),
    ),
  );
  for (const seen of statuses) {
    assert.ok(seen.length > 20);
    assert.deepEqual([...new Set(seen)], [200], "every call answered 200");
  }
  for (const page of tabs) {
    const events = await page.evaluate(() => window.events);
    assert.ok(!events.includes("signed-out"), `no tab signed out: ${events}`);
  }
  assert.ok((await warrant.metric('warrant_refreshes_total{result="ok"}')) >= 3, "tokens were refreshed");
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

  // Logging out in one tab signs every tab out.
  await tabs[1].evaluate(() => auth.logOut());
  await new Promise((r) => setTimeout(r, 500));
  for (const page of tabs.slice(1)) {
    assert.equal(await page.evaluate(() => auth.user), null);
    assert.ok((await page.evaluate(() => window.events)).includes("signed-out"));
    assert.equal(await page.evaluate(async () => (await auth.fetch("/me")).status), 401);
  }
  for (const page of tabs.slice(1)) await page.close();
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
