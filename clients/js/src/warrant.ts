/**
 * @warrant/client: a small client for warrant that never logs a user out by
 * accident. Tokens live in one storage every tab shares; one tab refreshes
 * at a time under a lease with a deadline (never an unbounded lock: a tab
 * that dies mid-refresh holds nothing up past it), the others adopt its
 * result, and the server's grace window covers the race that remains.
 * Sign-in and sign-out reach every tab. No runtime dependencies.
 */

/** Where tokens are kept: shared by the tabs of one origin ("local"), one tab ("session"), or this object only ("memory"). */
export type StorageKind = "local" | "session" | "memory";

/** A storage of strings (React Native's AsyncStorage, a file, a cookie jar…). */
export interface StorageAdapter {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
  /** Calls `listener` when another context changed `key`; returns the unsubscribe. */
  subscribe?(key: string, listener: () => void): () => void;
}

export interface ClientOptions {
  baseUrl: string;
  storage?: StorageKind | StorageAdapter;
  /** The fetch to use (Node < 18, tests); `globalThis.fetch` by default. */
  fetch?: typeof fetch;
  /** Refresh this many seconds before expiry (at most a quarter of the token's life), plus jitter. Default 30. */
  refreshMarginSeconds?: number;
  /** Key prefix in storage, for several clients on one origin. Default "warrant". */
  storageKey?: string;
}

export interface User {
  id: number;
  username: string;
  role: "user" | "admin";
  created_at: string;
}

export type ChangeEvent = "signed-in" | "signed-out" | "refreshed";

export type LogInResult =
  | { status: "signed-in"; user: User }
  | { status: "mfa-required"; complete(code: string): Promise<User> };

/** A problem the server answered (RFC 9457), or a network failure (`code` "network_error", status 0). */
export class WarrantError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: string;
  readonly problem: Record<string, unknown>;

  constructor(status: number, problem: Record<string, unknown>) {
    const detail = typeof problem.detail === "string" ? problem.detail : `HTTP ${status}`;
    super(detail);
    this.name = "WarrantError";
    this.status = status;
    this.code = typeof problem.code === "string" ? problem.code : "unknown";
    this.detail = detail;
    this.problem = problem;
  }
}

interface Session {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** The access token's lifetime, milliseconds. */
  lifetime: number;
  user: User;
}

interface Lease {
  owner: string;
  until: number;
}

/** How long one tab may hold the refresh before others go ahead anyway. */
const LEASE_MS = 5_000;
/** How often a waiting tab looks at storage when no event comes. */
const POLL_MS = 100;
/** A lease written, how long before reading it back to see who won. */
const SETTLE_MS = 25;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function randomId(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class MemoryStorage implements StorageAdapter {
  #items = new Map<string, string>();
  getItem(key: string) {
    return this.#items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.#items.set(key, value);
  }
  removeItem(key: string) {
    this.#items.delete(key);
  }
}

/** `localStorage` / `sessionStorage`, with other tabs' writes as events. */
function webStorage(kind: "local" | "session"): StorageAdapter {
  const store = kind === "local" ? globalThis.localStorage : globalThis.sessionStorage;
  if (!store) throw new Error(`${kind}Storage is not available here: pass storage: "memory" or an adapter`);
  return {
    getItem: (key) => store.getItem(key),
    setItem: (key, value) => store.setItem(key, value),
    removeItem: (key) => store.removeItem(key),
    subscribe(key, listener) {
      const onStorage = (event: StorageEvent) => {
        if (event.key === key || event.key === null) listener();
      };
      globalThis.addEventListener("storage", onStorage);
      return () => globalThis.removeEventListener("storage", onStorage);
    },
  };
}

export class WarrantClient {
  readonly #base: string;
  readonly #storage: StorageAdapter;
  readonly #fetch: typeof fetch;
  readonly #margin: number;
  readonly #sessionKey: string;
  readonly #leaseKey: string;
  readonly #tab = randomId();
  #session: Session | null = null;
  #listeners = new Set<(event: ChangeEvent, user: User | null) => void>();
  #refreshing: Promise<Session | null> | null = null;
  #changed: (() => void) | null = null;
  /** Resolves once the stored session (if any) is loaded. */
  readonly ready: Promise<void>;

  constructor(options: ClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, "");
    const storage = options.storage ?? "local";
    this.#storage = typeof storage === "string" ? (storage === "memory" ? new MemoryStorage() : webStorage(storage)) : storage;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#margin = (options.refreshMarginSeconds ?? 30) * 1000;
    const prefix = options.storageKey ?? "warrant";
    this.#sessionKey = `${prefix}.session`;
    this.#leaseKey = `${prefix}.refresh-lease`;
    this.#storage.subscribe?.(this.#sessionKey, () => void this.#adoptStored());
    this.ready = this.#readSession().then((session) => {
      this.#session = session;
    });
  }

  /** The signed-in user, or null. */
  get user(): User | null {
    return this.#session?.user ?? null;
  }

  /** Calls `listener` on every sign-in, sign-out and refresh, in this tab or another. Returns the unsubscribe. */
  onChange(listener: (event: ChangeEvent, user: User | null) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async signUp(input: { username: string; password: string; email?: string }): Promise<User> {
    const body = await this.#call("POST", "/signup", input);
    return (await this.#signedIn(body)).user;
  }

  async logIn(input: { username: string; password: string }): Promise<LogInResult> {
    try {
      const body = await this.#call("POST", "/login", input);
      return { status: "signed-in", user: (await this.#signedIn(body)).user };
    } catch (error) {
      if (!(error instanceof WarrantError) || error.code !== "mfa_required") throw error;
      const mfaToken = String(error.problem.mfa_token);
      return {
        status: "mfa-required",
        complete: async (code: string) => {
          const body = await this.#call("POST", "/login/mfa", { mfa_token: mfaToken, code });
          return (await this.#signedIn(body)).user;
        },
      };
    }
  }

  /** Logs in with a passkey (a browser with WebAuthn): no name typed. */
  async logInWithPasskey(): Promise<User> {
    const { ceremony, options } = await this.#call("POST", "/login/passkey/options");
    const credential = (await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
    })) as PublicKeyCredential | null;
    if (!credential) throw new WarrantError(0, { code: "passkey_cancelled", detail: "no passkey was chosen" });
    const body = await this.#call("POST", "/login/passkey", { ceremony, credential: credential.toJSON() });
    return (await this.#signedIn(body)).user;
  }

  /** Adds a passkey to the signed-in account; the password confirms it is the owner. */
  async registerPasskey(input: { password: string; name?: string }): Promise<Record<string, unknown>> {
    const started = await this.#json("POST", "/me/passkeys/registration", { password: input.password });
    const credential = (await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(started.options.publicKey),
    })) as PublicKeyCredential | null;
    if (!credential) throw new WarrantError(0, { code: "passkey_cancelled", detail: "no passkey was created" });
    return this.#json("POST", "/me/passkeys", { ceremony: started.ceremony, credential: credential.toJSON(), name: input.name });
  }

  /**
   * `fetch` with the access token: refreshed first when it is about to
   * expire, and once more on a 401 `token_expired`. A 401 `token_revoked`
   * or `invalid_token` signs out; anything else is returned as is.
   */
  async fetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = typeof input === "string" && input.startsWith("/") ? this.#base + input : input;
    let session = await this.#fresh();
    const send = (token: string | undefined) => {
      const headers = new Headers(init.headers);
      if (token) headers.set("Authorization", `Bearer ${token}`);
      return this.#fetch(url, { ...init, headers });
    };
    let response = await send(session?.accessToken);
    if (response.status !== 401 || !session) return response;
    const code = await problemCode(response);
    if (code === "token_expired") {
      session = await this.#refresh(session);
      if (session) response = await send(session.accessToken);
    } else if (code === "token_revoked" || code === "invalid_token") {
      await this.#clear();
    }
    return response;
  }

  /** Ends this session on the server (RFC 7009 revocation) and signs every tab out. */
  async logOut(): Promise<void> {
    await this.ready;
    const session = (await this.#readSession()) ?? this.#session;
    await this.#clear();
    if (session) {
      // Signed out here whatever the network says: the refresh token is gone.
      await this.#call("POST", "/revoke", { token: session.refreshToken }).catch(() => undefined);
    }
  }

  /** The signed-in user's sessions (devices). */
  readonly sessions = {
    list: () => this.#json("GET", "/sessions"),
    end: (id: string) => this.#json("DELETE", `/sessions/${encodeURIComponent(id)}`),
    endOthers: () => this.#json("DELETE", "/sessions?scope=others"),
  };

  // --- internals -------------------------------------------------------

  /** The session, refreshed first if its access token is about to expire. */
  async #fresh(): Promise<Session | null> {
    await this.ready;
    const session = await this.#readSession();
    if (!session) {
      if (this.#session) this.#setSession(null, "signed-out");
      return null;
    }
    if (session.refreshToken !== this.#session?.refreshToken) this.#setSession(session, "refreshed");
    const margin = Math.min(this.#margin, session.lifetime / 4);
    const jitter = Math.random() * Math.min(5_000, session.lifetime / 10);
    if (session.expiresAt - Date.now() > margin + jitter) return session;
    return this.#refresh(session);
  }

  /** One refresh at a time in this tab: callers share it. */
  #refresh(stale: Session): Promise<Session | null> {
    this.#refreshing ??= this.#refreshAcrossTabs(stale).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /**
   * Refreshes `stale` unless another tab does: the tab that holds the lease
   * refreshes; the others wait for its result in storage and adopt it. A
   * lease past its deadline is anybody's, so a tab closed mid-refresh
   * delays the others by at most the lease.
   */
  async #refreshAcrossTabs(stale: Session): Promise<Session | null> {
    const giveUpAt = Date.now() + 2 * LEASE_MS;
    for (;;) {
      const current = await this.#readSession();
      if (!current) {
        this.#setSession(null, "signed-out");
        return null;
      }
      if (current.refreshToken !== stale.refreshToken) {
        this.#setSession(current, "refreshed");
        return current;
      }
      const lease = await this.#readLease();
      const free = !lease || lease.until <= Date.now() || lease.owner === this.#tab;
      if (free || Date.now() >= giveUpAt) {
        await this.#storage.setItem(this.#leaseKey, JSON.stringify({ owner: this.#tab, until: Date.now() + LEASE_MS }));
        await sleep(SETTLE_MS);
        const won = (await this.#readLease())?.owner === this.#tab;
        if (won || Date.now() >= giveUpAt) {
          try {
            return await this.#rotate(current);
          } finally {
            if ((await this.#readLease())?.owner === this.#tab) await this.#storage.removeItem(this.#leaseKey);
          }
        }
      }
      await this.#waitForChange(POLL_MS);
    }
  }

  /** `POST /refresh`. Only a definite refusal signs out, and only if no other tab rotated the token meanwhile. */
  async #rotate(current: Session): Promise<Session | null> {
    try {
      const body = await this.#call("POST", "/refresh", { refresh_token: current.refreshToken });
      const session = toSession(body);
      await this.#writeSession(session);
      this.#setSession(session, "refreshed");
      return session;
    } catch (error) {
      if (!(error instanceof WarrantError) || error.code !== "invalid_refresh_token") throw error;
      const stored = await this.#readSession();
      if (stored && stored.refreshToken !== current.refreshToken) {
        this.#setSession(stored, "refreshed");
        return stored;
      }
      await this.#clear();
      return null;
    }
  }

  async #signedIn(body: any): Promise<Session> {
    const session = toSession(body);
    await this.#writeSession(session);
    this.#setSession(session, "signed-in");
    return session;
  }

  async #clear(): Promise<void> {
    await this.#storage.removeItem(this.#sessionKey);
    this.#setSession(null, "signed-out");
  }

  /** Another tab changed the stored session: take it as ours. */
  async #adoptStored(): Promise<void> {
    const stored = await this.#readSession();
    const before = this.#session;
    if (!stored && before) this.#setSession(null, "signed-out");
    else if (stored && !before) this.#setSession(stored, "signed-in");
    else if (stored && before && stored.refreshToken !== before.refreshToken) {
      this.#setSession(stored, stored.user.id === before.user.id ? "refreshed" : "signed-in");
    }
    this.#changed?.();
  }

  #setSession(session: Session | null, event: ChangeEvent): void {
    const had = this.#session;
    this.#session = session;
    if (!session && !had) return;
    for (const listener of this.#listeners) listener(event, session?.user ?? null);
  }

  #waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.#changed === done) self.#changed = null;
        resolve();
      }
      this.#changed = done;
    });
  }

  async #readSession(): Promise<Session | null> {
    return parse<Session>(await this.#storage.getItem(this.#sessionKey));
  }

  async #writeSession(session: Session): Promise<void> {
    await this.#storage.setItem(this.#sessionKey, JSON.stringify(session));
  }

  async #readLease(): Promise<Lease | null> {
    return parse<Lease>(await this.#storage.getItem(this.#leaseKey));
  }

  /** A JSON call with the access token (through `fetch`), its body or a WarrantError. */
  async #json(method: string, path: string, body?: unknown): Promise<any> {
    const response = await this.fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return readBody(response);
  }

  /** A JSON call without the access token. */
  async #call(method: string, path: string, body?: unknown): Promise<any> {
    let response: Response;
    try {
      response = await this.#fetch(this.#base + path, {
        method,
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new WarrantError(0, { code: "network_error", detail: String(error) });
    }
    return readBody(response);
  }
}

function parse<T>(text: string | null): T | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

function toSession(body: any): Session {
  const lifetime = Number(body.expires_in) * 1000;
  return {
    accessToken: body.access_token,
    refreshToken: body.refresh_token,
    expiresAt: Date.now() + lifetime,
    lifetime,
    user: body.user,
  };
}

async function problemCode(response: Response): Promise<string | undefined> {
  try {
    const problem = await response.clone().json();
    return typeof problem?.code === "string" ? problem.code : undefined;
  } catch {
    return undefined;
  }
}

async function readBody(response: Response): Promise<any> {
  const text = await response.text();
  const body = text ? parse<Record<string, unknown>>(text) ?? { detail: text } : {};
  if (!response.ok) throw new WarrantError(response.status, body);
  return body;
}

/** A client for the warrant at `options.baseUrl`. */
export function createClient(options: ClientOptions): WarrantClient {
  return new WarrantClient(options);
}
