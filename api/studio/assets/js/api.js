// The REST client of the studio pages: the signed-in account in localStorage, and calls
// that renew the access token with the refresh token before it runs out.
//
// Refresh tokens are single-use (a reused one signs the whole family out), and the studio
// and the director console may run in two tabs at once: renewals are serialised across tabs
// with a Web Lock, and a tab that finds a newer token already stored uses it instead.

export const API = "/api/v1";
const STORAGE_KEY = "monumento.auth";
const RENEW_MARGIN_MS = 60_000;

/** An error answer of the API, with its readable message and machine code. */
export class ApiError extends Error {
  constructor(status, message, code, body = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The sign-in is gone (expired refresh token, signed out elsewhere): sign in again. */
export class SignedOutError extends Error {}

/** The stored sign-in: {accessToken, refreshToken, expiresAt, user}, or null. */
export function currentAuth() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null");
  } catch {
    return null;
  }
}

function store(response) {
  const auth = {
    accessToken: response.accessToken,
    refreshToken: response.refreshToken,
    expiresAt: Date.now() + response.expiresIn * 1000,
    user: response.user,
  };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(auth));
  return auth;
}

function forget(message) {
  localStorage.removeItem(STORAGE_KEY);
  window.dispatchEvent(new CustomEvent("monumento:signed-out", { detail: { message } }));
  return new SignedOutError(message);
}

async function send(path, { method = "GET", body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached: check your connection", "offline");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data?.error ?? `The server answered ${response.status}`;
    throw new ApiError(response.status, message, data?.code ?? "http_error", data ?? {});
  }
  return data;
}

export async function signIn(email, password) {
  return store(await send("/auth/login", { method: "POST", body: { email, password } })).user;
}

export async function signUp(email, password, fullName) {
  const body = { email, password };
  if (fullName) body.fullName = fullName;
  return store(await send("/auth/register", { method: "POST", body })).user;
}

export async function signOut() {
  const auth = currentAuth();
  localStorage.removeItem(STORAGE_KEY);
  if (!auth) return;
  try {
    await send("/auth/logout", {
      method: "POST",
      body: { refreshToken: auth.refreshToken },
      token: auth.accessToken,
    });
  } catch {
    // Signed out here either way; the server forgets the token when it expires.
  }
}

function withRefreshLock(work) {
  if (navigator.locks) return navigator.locks.request("monumento-auth-refresh", work);
  return work();
}

/** Renew the sign-in, unless another tab did since `staleToken` was read. */
export async function renew(staleToken) {
  return withRefreshLock(async () => {
    const auth = currentAuth();
    if (!auth) throw forget("You are signed out: sign in again");
    if (auth.accessToken !== staleToken && auth.expiresAt - Date.now() > RENEW_MARGIN_MS) {
      return auth;
    }
    try {
      return store(
        await send("/auth/refresh", { method: "POST", body: { refreshToken: auth.refreshToken } }),
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        throw forget("Your sign-in expired: sign in again");
      }
      throw error;
    }
  });
}

/** A current access token, renewed first when it expires within a minute. */
export async function accessToken() {
  const auth = currentAuth();
  if (!auth) throw forget("Sign in first");
  if (auth.expiresAt - Date.now() > RENEW_MARGIN_MS) return auth.accessToken;
  return (await renew(auth.accessToken)).accessToken;
}

/** Call the API as the signed-in user; a refused token is renewed once and the call retried. */
export async function api(path, options = {}) {
  const token = await accessToken();
  try {
    return await send(path, { ...options, token });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    const renewed = await renew(token);
    return send(path, { ...options, token: renewed.accessToken });
  }
}

/**
 * A WebSocket to an API path, signed in: the access token travels as the subprotocol
 * `bearer.<token>` next to `monumento` (the one the server accepts), never in the URL, so
 * no log or history keeps it. Returns the socket and the token it was opened with.
 */
export async function openSocket(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const token = await accessToken();
  const socket = new WebSocket(`${scheme}//${location.host}${API}${path}`, [
    "monumento",
    `bearer.${token}`,
  ]);
  return { socket, token };
}
