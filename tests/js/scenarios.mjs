// Proves that the official JavaScript client, socket.io-client 4.x, works against
// the Kallemny /chat namespace (contract section 4): the three ways to authenticate
// (auth.token, an Authorization header, ?token=), refusal with "unauthorized", acks
// through emitWithAck, the server events (ReceiveMessage, UserTyping, MessagesRead,
// UserOnline/UserOffline), error acks, and the WebSocket and long-polling transports;
// and contract section 6: EditMessage, DeleteMessage, AddReaction/RemoveReaction with
// MessageUpdated / MessageDeleted at the other client, and SendMessage's extra fields.
// Contract section 7 (room-admin): AddedToRoom, MemberUpdated and RemovedFromRoom at the
// member being managed over REST.
//
// One scenario per process, driven by tests/js/test_js_client.py:
//
//   node scenarios.mjs '{"scenario": "send-receive", "url": "http://127.0.0.1:8000",
//                        "a": {"token": "...", "id": "..."}, "b": {...}, "roomId": "..."}'
//
// Config keys: scenario, url, a / b ({token, id, username}), roomId, foreignRoomId,
// transports (A's, default: the client's own default, polling then upgrade),
// peerTransports (B's, default: transports), mode / token (bad-token), emoji (react),
// sideRoomId (room-admin: A and B's private room, for the marker), timeoutMs.
//
// Prints exactly one JSON line on stdout, {"ok": true, "scenario", ...details} or
// {"ok": false, "scenario", "error"}, and exits 0 on success, 1 on failure. Every
// scenario runs under an overall timeout and always disconnects its sockets.

import { writeSync } from "node:fs";
import { io } from "socket.io-client";

const STEP_MS = 5000; // one connect, ack or awaited event
const DEFAULT_TIMEOUT_MS = 10000; // a whole scenario

const config = parseConfig(process.argv[2]);
const openSockets = new Set();

function parseConfig(text) {
  if (!text) fatal("usage: node scenarios.mjs '<json config>'");
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fatal(`config is not JSON: ${err.message}`);
  }
  if (!value || typeof value.scenario !== "string" || typeof value.url !== "string") {
    fatal("config needs \"scenario\" and \"url\"");
  }
  return value;
}

function fatal(message) {
  writeSync(1, JSON.stringify({ ok: false, scenario: null, error: message }) + "\n");
  process.exit(1);
}

function fail(message) {
  throw new Error(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function brief(value) {
  const text = JSON.stringify(value);
  return text && text.length > 300 ? text.slice(0, 300) + "…" : text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// -- a recording client ---------------------------------------------------------

class Client {
  /** A /chat socket that records every server event from the moment it is created. */
  constructor(name, { transports, ...options } = {}) {
    this.name = name;
    this.received = [];
    this.waiters = new Set();
    this.socket = io(`${config.url}/chat`, {
      forceNew: true,
      reconnection: false,
      timeout: STEP_MS,
      ...options,
      ...(transports ? { transports } : {}), // null/absent: the client's default (polling, then upgrade)
    });
    openSockets.add(this.socket);
    this.socket.onAny((event, ...args) => {
      this.received.push({ event, data: args[0] });
      for (const waiter of this.waiters) waiter();
    });
  }

  /** Resolves once connected; rejects with the connect_error (or a timeout). */
  connected() {
    const socket = this.socket;
    if (socket.connected) return Promise.resolve(this);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${this.name}: not connected within ${STEP_MS} ms`)), STEP_MS);
      const onConnect = () => done(null);
      const onError = (err) => done(err);
      const done = (err) => {
        clearTimeout(timer);
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
        err ? reject(err) : resolve(this);
      };
      socket.on("connect", onConnect);
      socket.on("connect_error", onError);
    });
  }

  /** Connects or fails the scenario with the server's refusal. */
  async connect() {
    try {
      return await this.connected();
    } catch (err) {
      fail(`${this.name}: connect failed: ${err.message}${err.data ? " " + brief(err.data) : ""}`);
    }
  }

  /** The name of the transport in use ("polling" or "websocket"). */
  get transport() {
    return this.socket.io.engine?.transport?.name ?? null;
  }

  /** Emits with an acknowledgement and returns the ack. */
  async call(event, ...args) {
    try {
      return await this.socket.timeout(STEP_MS).emitWithAck(event, ...args);
    } catch (err) {
      fail(`${this.name}: no ack for ${event} within ${STEP_MS} ms (${err.message})`);
    }
  }

  /** Emits and requires an {ok: true} ack. */
  async callOk(event, ...args) {
    const ack = await this.call(event, ...args);
    check(ack && ack.ok === true, `${this.name}: ${event} ${brief(args)} was not acked ok: ${brief(ack)}`);
    return ack;
  }

  matching(event, predicate = () => true) {
    return this.received.filter((r) => r.event === event && predicate(r.data)).map((r) => r.data);
  }

  /** The first recorded `event` whose payload matches `predicate`, waiting for it. */
  waitFor(event, predicate = () => true, what = "", ms = STEP_MS) {
    return new Promise((resolve, reject) => {
      const look = () => {
        const hit = this.received.find((r) => r.event === event && predicate(r.data));
        if (!hit) return false;
        clearTimeout(timer);
        this.waiters.delete(look);
        resolve(hit.data);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(look);
        const seen = this.received.map((r) => `${r.event} ${brief(r.data)}`).join("; ") || "nothing";
        reject(new Error(`${this.name}: no ${event}${what ? " " + what : ""} within ${ms} ms; received: ${seen}`));
      }, ms);
      if (!look()) this.waiters.add(look);
    });
  }

  close() {
    if (this.socket.connected || this.socket.active) this.socket.disconnect();
  }
}

// -- scenarios -----------------------------------------------------------------------

let sequence = 0;
function newClientMessageId() {
  sequence += 1;
  return `js-${process.pid}-${Date.now()}-${sequence}`;
}

function sameMessage(got, want) {
  const keys = ["id", "roomId", "senderId", "senderUsername", "content", "createdAt", "clientMessageId"];
  return keys.every((k) => got?.[k] === want?.[k]);
}

/** Deep equality of two JSON values, whatever the order of object keys. */
function sameJSON(x, y) {
  const canonical = (v) => Array.isArray(v) ? v.map(canonical)
    : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]))
    : v;
  return JSON.stringify(canonical(x)) === JSON.stringify(canonical(y));
}

function checkMessageAck(ack, who, roomId, content, clientMessageId) {
  const m = ack.message;
  check(m && typeof m.id === "string" && m.id, `SendMessage ack has no message id: ${brief(ack)}`);
  check(m.roomId === roomId, `ack message roomId ${m.roomId} != ${roomId}`);
  check(m.senderId === who.id, `ack message senderId ${m.senderId} != ${who.id} (the token's user)`);
  check(m.content === content, `ack message content ${brief(m.content)} != ${brief(content)}`);
  check(m.clientMessageId === clientMessageId, `ack clientMessageId ${m.clientMessageId} != ${clientMessageId}`);
  check(typeof m.createdAt === "string" && /Z$/.test(m.createdAt), `ack createdAt not ISO UTC: ${m.createdAt}`);
  return m;
}

/** `from` sends a message; every connection of the room (sender included) receives it. */
async function sendAndDeliver(from, fromUser, receivers, content) {
  const clientMessageId = newClientMessageId();
  const ack = await from.callOk("SendMessage", { roomId: config.roomId, content, clientMessageId });
  const message = checkMessageAck(ack, fromUser, config.roomId, content, clientMessageId);
  for (const receiver of receivers) {
    const got = await receiver.waitFor("ReceiveMessage", (d) => d?.id === message.id, `for message ${message.id}`);
    check(sameMessage(got, message), `${receiver.name}: ReceiveMessage ${brief(got)} differs from the ack ${brief(message)}`);
  }
  return message;
}

function authOptions(mode, token) {
  switch (mode) {
    case "auth":
      return { auth: { token } };
    case "header":
      return { extraHeaders: { Authorization: `Bearer ${token}` } };
    case "query":
      return { query: { token } };
    case "none":
      return {};
    default:
      fail(`unknown auth mode ${mode}`);
  }
}

/** Connect with one credential style; the ack's senderId shows which user the server saw. */
function connectWith(mode) {
  return async () => {
    const a = new Client("A", { ...authOptions(mode, config.a.token), transports: config.transports });
    await a.connect();
    const content = `hello via ${mode}`;
    const message = await sendAndDeliver(a, config.a, [a], content);
    return { transport: a.transport, socketId: a.socket.id, messageId: message.id, senderId: message.senderId };
  };
}

const scenarios = {
  "connect-auth": connectWith("auth"),
  "connect-header": connectWith("header"),
  "connect-query": connectWith("query"),

  /** A bad or missing credential: the client's connect_error says "unauthorized". */
  async "bad-token"() {
    const mode = config.mode ?? "auth";
    const c = new Client("A", { ...authOptions(mode, config.token), transports: config.transports });
    let error = null;
    try {
      await c.connected();
    } catch (err) {
      error = err;
    }
    check(error, `connected although the credential (${mode}) was bad`);
    check(error.message === "unauthorized", `connect_error message ${brief(error.message)} != "unauthorized"`);
    check(!c.socket.connected, "socket reports connected after connect_error");
    return { message: error.message, data: error.data ?? null };
  },

  /** A → B and B → A; each ack carries the stored message, each side gets ReceiveMessage. */
  async "send-receive"() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const m1 = await sendAndDeliver(a, config.a, [b, a], "hello from A ✓");
    const m2 = await sendAndDeliver(b, config.b, [a, b], "hello from B");
    return { transports: [a.transport, b.transport], messageIds: [m1.id, m2.id] };
  },

  /** Repeating a clientMessageId returns the stored message and delivers nothing new. */
  async "resend-dedupe"() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const clientMessageId = newClientMessageId();
    const payload = { roomId: config.roomId, content: "only once", clientMessageId };
    const first = (await a.callOk("SendMessage", payload)).message;
    await b.waitFor("ReceiveMessage", (d) => d?.id === first.id, `for message ${first.id}`);
    const again = (await a.callOk("SendMessage", payload)).message;
    check(again?.id === first.id, `resend got a new message ${again?.id} instead of ${first.id}`);
    // A later message is a barrier: anything the resend delivered arrives before it.
    const barrier = await sendAndDeliver(a, config.a, [b], "after the resend");
    const copies = b.matching("ReceiveMessage", (d) => d?.clientMessageId === clientMessageId).length;
    check(copies === 1, `B received the message ${copies} times`);
    return { messageId: first.id, copiesAtB: copies, barrierId: barrier.id };
  },

  /** SendTypingIndicator(roomId, true) → B's UserTyping true, then false by expiry and by an explicit stop. */
  async typing() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const fromA = (isTyping) => (d) => d?.roomId === config.roomId && d?.userId === config.a.id && d?.isTyping === isTyping;

    await a.callOk("SendTypingIndicator", config.roomId, true); // plain arguments, as the seed's method took
    const started = Date.now();
    const on = await b.waitFor("UserTyping", fromA(true), "isTyping true from A");
    check(on.username === config.a.username, `UserTyping username ${on.username} != ${config.a.username}`);
    await b.waitFor("UserTyping", fromA(false), "isTyping false (expiry) from A");
    const expiredAfterMs = Date.now() - started;

    await a.callOk("SendTypingIndicator", { roomId: config.roomId, isTyping: true }); // object form
    await b.waitFor("UserTyping", (d) => fromA(true)(d) && b.matching("UserTyping", fromA(true)).length >= 2,
      "a second isTyping true from A");
    const stopping = Date.now();
    await a.callOk("SendTypingIndicator", config.roomId, false);
    await b.waitFor("UserTyping", () => b.matching("UserTyping", fromA(false)).length >= 2, "a second isTyping false from A");
    const stoppedAfterMs = Date.now() - stopping;

    const selfEvents = a.matching("UserTyping", (d) => d?.userId === config.a.id).length;
    check(selfEvents === 0, `A received ${selfEvents} UserTyping events about itself`);
    return { expiredAfterMs, stoppedAfterMs, eventsAtB: b.matching("UserTyping").map((d) => d.isTyping) };
  },

  /** MarkMessagesAsRead by B → A gets MessagesRead (object and plain-argument forms). */
  async "read-receipts"() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const readBy = (messageId) => (d) => d?.roomId === config.roomId && d?.userId === config.b.id && d?.lastReadMessageId === messageId;

    const m1 = await sendAndDeliver(a, config.a, [b], "read me");
    const ack1 = await b.callOk("MarkMessagesAsRead", { roomId: config.roomId, messageId: m1.id });
    check(ack1.roomId === config.roomId && ack1.lastReadMessageId === m1.id, `MarkMessagesAsRead ack ${brief(ack1)}`);
    check(typeof ack1.readAt === "string" && ack1.readAt, `MarkMessagesAsRead ack without readAt: ${brief(ack1)}`);
    const r1 = await a.waitFor("MessagesRead", readBy(m1.id), `from B up to ${m1.id}`);
    check(r1.readAt === ack1.readAt, `MessagesRead readAt ${r1.readAt} != ack readAt ${ack1.readAt}`);

    const m2 = await sendAndDeliver(a, config.a, [b], "and me");
    const ack2 = await b.callOk("MarkMessagesAsRead", config.roomId); // plain roomId: up to the latest
    check(ack2.lastReadMessageId === m2.id, `MarkMessagesAsRead(roomId) read up to ${ack2.lastReadMessageId}, not the latest ${m2.id}`);
    await a.waitFor("MessagesRead", readBy(m2.id), `from B up to ${m2.id}`);
    return { lastReadMessageIds: [ack1.lastReadMessageId, ack2.lastReadMessageId], readAt: ack2.readAt };
  },

  /** A shares a room with B: A sees UserOnline when B connects and UserOffline when B leaves. */
  async presence() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    await a.connect();
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await b.connect();
    const online = await a.waitFor("UserOnline", (d) => d?.userId === config.b.id, "for B");
    check(online.isOnline === true, `UserOnline isOnline ${online.isOnline}`);
    check(online.username === config.b.username, `UserOnline username ${online.username} != ${config.b.username}`);
    b.close();
    const offline = await a.waitFor("UserOffline", (d) => d?.userId === config.b.id, "for B after B disconnected");
    check(offline.isOnline === false, `UserOffline isOnline ${offline.isOnline}`);
    check(typeof offline.lastSeen === "string" && offline.lastSeen, `UserOffline without lastSeen: ${brief(offline)}`);
    return { online, offline };
  },

  /** SendMessage to a room A is not a member of: error ack, nothing delivered, A still usable. */
  async forbidden() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const content = "not for you";
    const ack = await a.call("SendMessage", { roomId: config.foreignRoomId, content, clientMessageId: newClientMessageId() });
    check(ack && ack.ok === false, `SendMessage to a foreign room was not refused: ${brief(ack)}`);
    check(ack.error?.code === "forbidden", `error code ${brief(ack.error?.code)} != "forbidden": ${brief(ack)}`);
    check(typeof ack.error?.message === "string", `error without a message: ${brief(ack)}`);
    // Still connected and served; the barrier message also flushes anything wrongly delivered to B.
    await sendAndDeliver(a, config.a, [b], "still here");
    check(a.socket.connected, "A was disconnected after the error ack");
    const leaked = b.matching("ReceiveMessage", (d) => d?.content === content).length;
    check(leaked === 0, `the refused message reached B ${leaked} times`);
    return { ack };
  },

  /** Contract section 6: EditMessage and DeleteMessage; the other client gets MessageUpdated / MessageDeleted. */
  async "edit-delete"() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const original = await sendAndDeliver(a, config.a, [b], "first draft");
    const id = original.id;

    const edited = (await a.callOk("EditMessage", { roomId: config.roomId, messageId: id, content: "final text" })).message;
    check(edited.id === id && edited.content === "final text", `EditMessage ack ${brief(edited)}`);
    check(typeof edited.editedAt === "string" && edited.deletedAt === null, `edited message times ${brief(edited)}`);
    check(edited.changeSeq > original.changeSeq, `edit changeSeq ${edited.changeSeq} not above ${original.changeSeq}`);
    for (const c of [b, a]) {
      const got = await c.waitFor("MessageUpdated", (d) => d?.id === id && d?.changeSeq === edited.changeSeq, "for the edit");
      check(sameJSON(got, edited), `${c.name}: MessageUpdated ${brief(got)} differs from the ack ${brief(edited)}`);
    }

    const refused = await b.call("EditMessage", { roomId: config.roomId, messageId: id, content: "not mine" });
    check(refused?.ok === false && refused.error?.code === "forbidden", `B's edit of A's message: ${brief(refused)}`);

    const tombstone = (await a.callOk("DeleteMessage", { roomId: config.roomId, messageId: id })).message;
    check(tombstone.content === "" && typeof tombstone.deletedAt === "string", `DeleteMessage ack ${brief(tombstone)}`);
    check(tombstone.changeSeq > edited.changeSeq, `delete changeSeq ${tombstone.changeSeq} not above ${edited.changeSeq}`);
    const deleted = await b.waitFor("MessageDeleted", (d) => d?.id === id, "for the delete");
    check(sameJSON(deleted, tombstone), `MessageDeleted ${brief(deleted)} differs from the ack ${brief(tombstone)}`);

    const again = (await a.callOk("DeleteMessage", { roomId: config.roomId, messageId: id })).message;
    check(sameJSON(again, tombstone), `deleting again changed the message: ${brief(again)}`);
    await sendAndDeliver(a, config.a, [b], "barrier"); // anything the second delete sent arrives before it
    const copies = b.matching("MessageDeleted", (d) => d?.id === id).length;
    check(copies === 1, `B received MessageDeleted ${copies} times`);
    return { messageId: id, changeSeqs: [original.changeSeq, edited.changeSeq, tombstone.changeSeq],
             forbidden: refused.error.code, tombstone };
  },

  /** Contract section 6: AddReaction / RemoveReaction from both clients; counts reach the other one. */
  async react() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const message = await sendAndDeliver(a, config.a, [b], "react to me");
    const ref = { roomId: config.roomId, messageId: message.id };
    const emoji = config.emoji ?? "👍";
    const steps = [
      [b, "AddReaction", [[emoji, 1]]],
      [a, "AddReaction", [[emoji, 2]]],
      [b, "AddReaction", [[emoji, 2]]], // again: ok, no change, no event
      [b, "RemoveReaction", [[emoji, 1]]],
    ];
    const updates = [];
    let seq = message.changeSeq;
    for (const [actor, event, want] of steps) {
      const got = (await actor.callOk(event, { ...ref, emoji })).message;
      const counts = got.reactions.map((r) => [r.emoji, r.count]);
      check(JSON.stringify(counts) === JSON.stringify(want), `${actor.name} ${event}: reactions ${brief(counts)} != ${brief(want)}`);
      if (got.changeSeq === seq) continue; // a repeat changes nothing
      check(got.changeSeq > seq, `${event} changeSeq ${got.changeSeq} not above ${seq}`);
      const other = actor === a ? b : a;
      const update = await other.waitFor("MessageUpdated", (d) => d?.id === message.id && d?.changeSeq === got.changeSeq,
        `for ${event} by ${actor.name}`);
      check(sameJSON(update, got), `${other.name}: MessageUpdated ${brief(update)} differs from the ack ${brief(got)}`);
      updates.push(got.changeSeq);
      seq = got.changeSeq;
    }
    const tooLong = await a.call("AddReaction", { ...ref, emoji: "x".repeat(33) });
    check(tooLong?.ok === false && tooLong.error?.code === "invalid", `33-character emoji: ${brief(tooLong)}`);
    await sendAndDeliver(a, config.a, [b], "barrier");
    const seen = b.matching("MessageUpdated", (d) => d?.id === message.id).map((d) => d.changeSeq);
    check(JSON.stringify(seen) === JSON.stringify(updates), `B's MessageUpdated changeSeqs ${brief(seen)} != ${brief(updates)}`);
    return { messageId: message.id, updates, invalid: tooLong.error.code };
  },

  /** Contract section 6: SendMessage with replyToId, mentionedUserIds and customData, as B receives it. */
  async "send-extras"() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const question = await sendAndDeliver(b, config.b, [a], "question");
    const customData = { kind: "answer", tags: ["a", "ü"], n: 1.5, nested: { ok: true, none: null } };
    const ack = await a.callOk("SendMessage", {
      roomId: config.roomId, content: "answer", replyToId: question.id, mentionedUserIds: [config.b.id], customData,
    });
    const m = ack.message;
    check(Object.keys(m).length === 16, `the message has ${Object.keys(m).length} keys, not 16: ${brief(m)}`);
    check(m.replyToId === question.id, `replyToId ${m.replyToId} != ${question.id}`);
    check(JSON.stringify(m.mentionedUserIds) === JSON.stringify([config.b.id]), `mentionedUserIds ${brief(m.mentionedUserIds)}`);
    check(JSON.stringify(m.customData) === JSON.stringify(customData), `customData ${brief(m.customData)}`);
    const got = await b.waitFor("ReceiveMessage", (d) => d?.id === m.id, `for message ${m.id}`);
    check(sameJSON(got, m), `ReceiveMessage ${brief(got)} differs from the ack ${brief(m)}`);
    const bad = await a.call("SendMessage", { roomId: config.roomId, content: "bad", customData: ["not", "an", "object"] });
    check(bad?.ok === false && bad.error?.code === "invalid", `customData list: ${brief(bad)}`);
    return { messageId: m.id, message: m };
  },

  /**
   * Contract section 7: A (the group's owner) adds B over REST, mutes B, then removes B. B's client
   * gets AddedToRoom then the room's next message, MemberUpdated, and RemovedFromRoom, after which the
   * room's messages no longer reach it (proven by a later marker in sideRoomId, A and B's private room).
   */
  async "room-admin"() {
    const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports });
    const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
    await Promise.all([a.connect(), b.connect()]);
    const room = config.roomId;
    const rest = async (method, path, body, want) => {
      const response = await fetch(`${config.url}/api/chat/rooms/${encodeURIComponent(room)}${path}`, {
        method,
        headers: { Authorization: `Bearer ${config.a.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(STEP_MS),
      });
      const text = await response.text();
      check(response.status === want, `${method} ${path}: ${response.status} ${text.slice(0, 300)} (wanted ${want})`);
      return text ? JSON.parse(text) : null;
    };

    await rest("POST", "/members", { userIds: [config.b.id] }, 200);
    const added = await b.waitFor("AddedToRoom", (d) => d?.id === room, "for the room");
    check(added.myRole === "member", `AddedToRoom myRole ${added.myRole}`);
    check(added.members.some((m) => m.id === config.b.id), `AddedToRoom members lack B: ${brief(added.members)}`);
    const joined = await a.waitFor("UserJoinedRoom", (d) => d?.roomId === room && d?.user?.id === config.b.id, "for B");
    check(joined.addedBy === config.a.id, `UserJoinedRoom addedBy ${joined.addedBy} != ${config.a.id}`);
    await sendAndDeliver(a, config.a, [b], "welcome, B");

    const mutedUntil = new Date(Date.now() + 3600_000).toISOString();
    await rest("PATCH", `/members/${encodeURIComponent(config.b.id)}`, { mutedUntil }, 200);
    const updated = await b.waitFor("MemberUpdated", (d) => d?.roomId === room && d?.userId === config.b.id, "for B");
    check(updated.mutedUntil === mutedUntil, `MemberUpdated mutedUntil ${updated.mutedUntil} != ${mutedUntil}`);
    const muted = await b.call("SendMessage", { roomId: room, content: "am I muted?" });
    check(muted?.ok === false && muted.error?.code === "forbidden", `muted SendMessage: ${brief(muted)}`);

    await rest("DELETE", `/members/${encodeURIComponent(config.b.id)}`, null, 204);
    const after = (await a.callOk("SendMessage", { roomId: room, content: "after B left" })).message;
    const removed = await b.waitFor("RemovedFromRoom", (d) => d?.roomId === room, "for the room");
    const left = await a.waitFor("UserLeftRoom", (d) => d?.roomId === room && d?.userId === config.b.id, "for B");
    const marker = (await a.callOk("SendMessage", { roomId: config.sideRoomId, content: "marker" })).message;
    await b.waitFor("ReceiveMessage", (d) => d?.id === marker.id, "for the marker");
    const leaked = b.matching("ReceiveMessage", (d) => d?.id === after.id).length;
    check(leaked === 0, `the message sent after the removal reached B ${leaked} times`);
    return { added, joined, updated, muted: muted.error.code, removed, left,
             transports: [a.transport, b.transport] };
  },
};

// Contract section 8 (logout-disconnect): A and B are sockets of one user opened with two
// tokens. A's token is logged out over REST (at config.restUrl, default config.url, so the
// REST call may go to another node). A's socket must close within 1000 ms of the REST
// answer, its automatic reconnection (on, as in a browser app) must end in connect_error
// "unauthorized", and B, opened with the other token, must still send and receive.
scenarios["logout-disconnect"] = async function logoutDisconnect() {
  const within = (promise, ms, message) => {
    let timer;
    const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  };
  const a = new Client("A", { auth: { token: config.a.token }, transports: config.transports,
                              reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
  const b = new Client("B", { auth: { token: config.b.token }, transports: config.peerTransports ?? config.transports });
  await Promise.all([a.connect(), b.connect()]);
  const transport = a.transport;
  let disconnectedAt = null;
  let reason = null;
  const disconnected = new Promise((resolve) => a.socket.once("disconnect", (why) => {
    disconnectedAt = Date.now();
    reason = why;
    if (why === "io server disconnect") a.socket.connect(); // the client does not retry this one by itself
    resolve();
  }));
  const refused = new Promise((resolve) => a.socket.once("connect_error", resolve));

  const response = await fetch(`${config.restUrl ?? config.url}/api/auth/logout`, {
    method: "POST", headers: { Authorization: `Bearer ${config.a.token}` }, signal: AbortSignal.timeout(STEP_MS),
  });
  const answeredAt = Date.now();
  check(response.status === 204, `POST /api/auth/logout: ${response.status} ${(await response.text()).slice(0, 300)}`);
  await within(disconnected, 1000, "A was still connected 1000 ms after the logout's answer");
  const error = await within(refused, STEP_MS, `no connect_error after A's reconnection (disconnect reason ${reason})`);
  check(error.message === "unauthorized", `A's reconnection: connect_error ${brief(error.message)} != "unauthorized"`);
  check(!a.socket.connected, "A is connected again with a logged-out token");
  const message = await sendAndDeliver(b, config.b, [b], "the other token still works");
  return { transport, reason, disconnectAfterMs: disconnectedAt - answeredAt, refused: error.message,
           messageId: message.id };
};

// -- run -----------------------------------------------------------------------------

async function closeAll() {
  for (const socket of openSockets) {
    try {
      if (socket.connected || socket.active) socket.disconnect();
    } catch {
      /* closing anyway */
    }
  }
  // Let the close packets (an HTTP request on polling) leave before the process ends.
  await sleep(100);
}

function finish(result, code) {
  writeSync(1, JSON.stringify(result) + "\n");
  process.exit(code);
}

async function main() {
  const name = config.scenario;
  const scenario = scenarios[name];
  if (!scenario) {
    finish({ ok: false, scenario: name, error: `unknown scenario; known: ${Object.keys(scenarios).join(", ")}` }, 1);
    return;
  }
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer;
  const overall = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scenario timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  let result;
  let code;
  try {
    const running = scenario();
    running.catch(() => {}); // a step failing after the overall timeout has already decided
    const details = await Promise.race([running, overall]);
    result = { ok: true, scenario: name, ...details };
    code = 0;
  } catch (err) {
    result = { ok: false, scenario: name, error: err?.message ?? String(err) };
    code = 1;
  } finally {
    clearTimeout(timer);
    await closeAll();
  }
  finish(result, code);
}

main();
