// Starts the real warrant binary on a fresh SQLite database (port 0) for
// the client's tests; WARRANT_BIN names it (default: the debug build).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const binary = process.env.WARRANT_BIN ?? resolve(import.meta.dirname, "../../../target/debug/warrant");

export async function startWarrant(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "warrant-client-"));
  const child = spawn(binary, ["serve"], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: join(dir, "w.db"),
      WARRANT_BIND: "127.0.0.1:0",
      WARRANT_LOG: "warn,warrant::startup=info",
      WARRANT_RATE_LIMIT_PER_MIN: "0",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const base = await new Promise((resolveBase, reject) => {
    const timer = setTimeout(() => reject(new Error(`warrant did not start:\n${log}`)), 15_000);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const found = /listening on (http:\/\/[0-9.:]+)/.exec(log);
      if (found) {
        clearTimeout(timer);
        resolveBase(found[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`warrant exited (${code}):\n${log}`)));
  });
  return {
    base,
    log: () => log,
    async metric(name) {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(`${name} `));
      return line ? Number(line.split(" ").pop()) : NaN;
    },
    stop() {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
