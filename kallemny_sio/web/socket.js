// The Socket.IO connection (namespace /chat) and the outbox of messages not yet acknowledged.

import { io } from "./vendor/socket.io.esm.min.js";
import { ChatError } from "./errors.js";

const ACK_TIMEOUT_MS = 10000;
const RETRY_REFUSED_MS = 5000; // after the server refused or cut the connection (not a token problem)

/**
 * One connection for the signed-in tab. `handlers` get the connection's life:
 * `status(state)` ("connecting" | "connected" | "disconnected"), `connected()` on every (re)connect,
 * `unauthorized()` when the server refuses the token.
 */
export class Connection {
  constructor(getToken, handlers) {
    this.handlers = handlers;
    this.closed = false;
    this.retryTimer = null;
    this.socket = io("/chat", {
      auth: (give) => give({ token: getToken() }),
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      autoConnect: false,
    });
    this.socket.on("connect", () => {
      handlers.status("connected");
      handlers.connected();
    });
    this.socket.on("disconnect", (reason) => {
      handlers.status("disconnected");
      // The server cut us (a revoked token, a restart on its side): the client does not retry by itself.
      if (reason === "io server disconnect") this.retrySoon(1000);
    });
    this.socket.on("connect_error", (error) => {
      if (error.message === "unauthorized") {
        handlers.unauthorized();
        return;
      }
      if (this.socket.active) {
        handlers.status("connecting"); // the server is unreachable: the client retries with back-off
      } else {
        handlers.status("disconnected"); // refused (rate_limited…): try again a little later
        this.retrySoon(RETRY_REFUSED_MS);
      }
    });
    this.socket.io.on("reconnect_attempt", () => handlers.status("connecting"));
  }

  get connected() {
    return this.socket.connected;
  }

  connect() {
    this.handlers.status("connecting");
    this.socket.connect();
  }

  retrySoon(delay) {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed && !this.socket.connected) this.connect();
    }, delay);
  }

  on(event, handler) {
    this.socket.on(event, handler);
  }

  /** Emit with an acknowledgement; resolves to the ok ack, rejects with a ChatError. */
  async request(event, payload) {
    if (!this.socket.connected) throw new ChatError("network", "");
    let ack;
    try {
      ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
    } catch {
      throw new ChatError(this.socket.connected ? "timeout" : "network", "");
    }
    if (!ack || !ack.ok) throw ChatError.fromAck(ack);
    return ack;
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket.disconnect();
    this.socket.removeAllListeners();
    this.socket.io.removeAllListeners();
  }
}

/** A new clientMessageId (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function newClientMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Messages sent and not yet acknowledged. Each is (re)sent on every connect with the same clientMessageId
 * (the server stores and delivers it once), and again after an ack that never came while connected.
 * `onStored(entry, message)` and `onRefused(entry, error)` report the outcome.
 */
export class Outbox {
  constructor(connection, { onStored, onRefused }) {
    this.connection = connection;
    this.onStored = onStored;
    this.onRefused = onRefused;
    this.entries = new Map(); // clientMessageId -> {clientMessageId, roomId, content, replyToId, mentionedUserIds, attempt}
  }

  send(entry) {
    entry.attempt = 0;
    this.entries.set(entry.clientMessageId, entry);
    if (this.connection.connected) this.emit(entry);
  }

  /** On (re)connect: everything without an ack goes again, oldest first. */
  flush() {
    for (const entry of this.entries.values()) this.emit(entry);
  }

  /** The message arrived (ReceiveMessage) before its ack: nothing left to send. */
  settle(clientMessageId) {
    this.entries.delete(clientMessageId);
  }

  has(clientMessageId) {
    return this.entries.has(clientMessageId);
  }

  async emit(entry) {
    entry.attempt += 1;
    const attempt = entry.attempt;
    const payload = { roomId: entry.roomId, content: entry.content, clientMessageId: entry.clientMessageId };
    if (entry.replyToId) payload.replyToId = entry.replyToId;
    if (entry.mentionedUserIds && entry.mentionedUserIds.length) payload.mentionedUserIds = entry.mentionedUserIds;
    let ack;
    try {
      ack = await this.connection.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("SendMessage", payload);
    } catch {
      // No ack: disconnected (the next connect sends it again) or timed out while connected (send again now).
      if (this.entries.get(entry.clientMessageId) === entry && entry.attempt === attempt && this.connection.connected) {
        this.emit(entry);
      }
      return;
    }
    if (this.entries.get(entry.clientMessageId) !== entry) return; // settled meanwhile
    this.entries.delete(entry.clientMessageId);
    if (ack && ack.ok) this.onStored(entry, ack.message);
    else this.onRefused(entry, ChatError.fromAck(ack));
  }
}
