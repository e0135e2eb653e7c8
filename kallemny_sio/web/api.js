// The REST API of the contract (sections 3, 6, 7, 8), as promises of plain JSON.

import { ChatError } from "./errors.js";

const MAX_PAGES = 1000; // a guard against a cursor that never ends

function seg(id) {
  return encodeURIComponent(id);
}

export class Api {
  /**
   * @param {() => string|null} getToken the current token
   * @param {(error: ChatError) => void} onUnauthorized called when an authenticated call answers 401
   */
  constructor(getToken, onUnauthorized) {
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  /** One request; resolves to `{data, headers}`, rejects with a ChatError. */
  async request(method, path, { body, query, auth = true } = {}) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = auth ? this.getToken() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ChatError("network", "");
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      const retryAfter = Number(response.headers.get("Retry-After"));
      const failure = new ChatError(error.code || codeOf(response.status), error.message, {
        status: response.status,
        retryAfterMs: error.retryAfterMs ?? (retryAfter > 0 ? retryAfter * 1000 : null),
      });
      if (failure.code === "unauthorized" && auth) this.onUnauthorized(failure);
      throw failure;
    }
    return { data, headers: response.headers };
  }

  async json(method, path, options) {
    return (await this.request(method, path, options)).data;
  }

  // Accounts
  register(username, password) {
    return this.json("POST", "/api/auth/register", { body: { username, password }, auth: false });
  }
  login(username, password) {
    return this.json("POST", "/api/auth/login", { body: { username, password }, auth: false });
  }
  logout() {
    return this.json("POST", "/api/auth/logout");
  }
  me() {
    return this.json("GET", "/api/auth/me");
  }

  // Rooms
  /** Every room of the caller, following the list's cursor (X-Next-Cursor) to the last page. */
  async allRooms() {
    const rooms = [];
    let cursor;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const { data, headers } = await this.request("GET", "/api/chat/rooms", { query: { limit: 100, cursor } });
      rooms.push(...data);
      cursor = headers.get("X-Next-Cursor");
      if (!cursor) break;
    }
    return rooms;
  }
  createRoom(body) {
    return this.json("POST", "/api/chat/rooms", { body });
  }
  updateRoom(roomId, patch) {
    return this.json("PATCH", `/api/chat/rooms/${seg(roomId)}`, { body: patch });
  }
  addMembers(roomId, userIds) {
    return this.json("POST", `/api/chat/rooms/${seg(roomId)}/members`, { body: { userIds } });
  }
  removeMember(roomId, userId) {
    return this.json("DELETE", `/api/chat/rooms/${seg(roomId)}/members/${seg(userId)}`);
  }
  updateMember(roomId, userId, patch) {
    return this.json("PATCH", `/api/chat/rooms/${seg(roomId)}/members/${seg(userId)}`, { body: patch });
  }
  ban(roomId, userId) {
    return this.json("PUT", `/api/chat/rooms/${seg(roomId)}/bans/${seg(userId)}`);
  }
  deleteRoom(roomId) {
    return this.json("DELETE", `/api/chat/rooms/${seg(roomId)}`);
  }

  // Messages
  /** One page of history, oldest first: `{messages, hasMore}`; `before`/`after` are message ids. */
  history(roomId, { before, after, limit = 50 } = {}) {
    return this.json("GET", `/api/chat/rooms/${seg(roomId)}/messages`, { query: { limit, before, after } });
  }
  message(roomId, messageId) {
    return this.json("GET", `/api/chat/rooms/${seg(roomId)}/messages/${seg(messageId)}`);
  }
  reportMessage(roomId, messageId, reason) {
    return this.json("POST", `/api/chat/rooms/${seg(roomId)}/messages/${seg(messageId)}/reports`, { body: { reason } });
  }
  /** Every change after `after` (a changeSeq), all pages; `onPage(messages)` sees each page in order. */
  async changes(roomId, after, onPage) {
    let position = after;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const data = await this.json("GET", `/api/chat/rooms/${seg(roomId)}/changes`, {
        query: { after: position, limit: 500 },
      });
      onPage(data.messages);
      position = data.lastChangeSeq;
      if (!data.hasMore) break;
    }
    return position;
  }

  // People
  searchUsers(prefix, limit = 20) {
    return this.json("GET", "/api/chat/users", { query: { q: prefix, limit } });
  }
  blocks() {
    return this.json("GET", "/api/chat/blocks");
  }
  setBlock(userId, blocking) {
    return this.json(blocking ? "PUT" : "DELETE", `/api/chat/blocks/${seg(userId)}`);
  }
}

function codeOf(status) {
  return { 400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
    413: "too_large", 429: "rate_limited", 503: "unavailable" }[status] || "internal";
}
