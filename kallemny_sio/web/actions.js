// What the user does to messages: send (through the outbox), retry, edit, delete, react, mark as read, type.

import { describeError } from "./errors.js";
import { newClientMessageId } from "./socket.js";

const TYPING_REFRESH_MS = 4000; // the server forgets a typing state after 10 s without a refresh
const TYPING_PAUSE_MS = 3000; // a pause this long ends "is typing"

export class Actions {
  constructor({ store, connection, outbox, report }) {
    this.store = store;
    this.connection = connection;
    this.outbox = outbox;
    this.report = report;
    this.reading = new Set(); // rooms with a MarkMessagesAsRead in flight
    this.readAgain = new Set();
    this.readUpTo = new Map(); // roomId -> the message id our last MarkMessagesAsRead named
    this.typingRoom = null;
    this.typingSentAt = 0;
    this.typingStop = null;
  }

  /** Called by the outbox: the server stored our message. */
  stored(message) {
    this.store.settlePending(message);
    this.store.setRefusal(message.roomId, null);
    this.store.updateRoom(message.roomId, (room) => {
      room.unreadCount = 0; // sending moves our read pointer to the message
      room.unreadMentionCount = 0;
      room.lastReadMessageId = message.id;
    });
  }

  /** Called by the outbox: the server refused our message (it stays, marked failed, with a retry button). */
  refused(entry, error) {
    const words = describeError(error, "send");
    this.store.setPendingState(entry.roomId, entry.clientMessageId, "failed", words);
    const room = this.store.rooms.get(entry.roomId);
    if (room && room.type === "private" && error.code === "forbidden") this.store.setRefusal(entry.roomId, words);
    this.report(error, "send");
  }

  send(roomId, content, replyToId = null) {
    const room = this.store.rooms.get(roomId);
    const entry = {
      clientMessageId: newClientMessageId(),
      roomId,
      content,
      replyToId,
      mentionedUserIds: room ? mentionsIn(content, room) : [],
    };
    this.store.addPending({ ...entry, state: "pending", error: null, senderId: this.store.me.id });
    this.outbox.send({ ...entry });
    this.stopTyping(false); // sending clears our typing state on the server
  }

  retry(roomId, clientMessageId) {
    const pending = this.store.roomMessages(roomId).pending.get(clientMessageId);
    if (!pending || this.outbox.has(clientMessageId)) return;
    this.store.setPendingState(roomId, clientMessageId, "pending");
    const { content, replyToId, mentionedUserIds } = pending;
    this.outbox.send({ clientMessageId, roomId, content, replyToId, mentionedUserIds });
  }

  discard(roomId, clientMessageId) {
    this.outbox.settle(clientMessageId);
    this.store.dropPending(roomId, clientMessageId);
  }

  /** Emit a message event whose ack carries the message; the message is applied; errors are reported. */
  async change(event, payload) {
    try {
      const ack = await this.connection.request(event, payload);
      this.store.applyMessages(payload.roomId, [ack.message]);
      return true;
    } catch (error) {
      this.report(error);
      return false;
    }
  }

  edit(roomId, messageId, content) {
    return this.change("EditMessage", { roomId, messageId, content });
  }

  remove(roomId, messageId) {
    return this.change("DeleteMessage", { roomId, messageId });
  }

  /** Add our reaction, or withdraw it when we gave it (as far as this tab knows). */
  async toggleReaction(roomId, messageId, emoji) {
    const mine = this.store.hasReacted(messageId, emoji);
    const ok = await this.change(mine ? "RemoveReaction" : "AddReaction", { roomId, messageId, emoji });
    if (ok) this.store.setReacted(messageId, emoji, !mine);
  }

  async react(roomId, messageId, emoji) {
    if (await this.change("AddReaction", { roomId, messageId, emoji })) this.store.setReacted(messageId, emoji, true);
  }

  /** Move our read pointer to the newest message held, once at a time per room. */
  markRead(roomId) {
    const room = this.store.rooms.get(roomId);
    const held = this.store.messages.get(roomId);
    const newest = held && held.newest();
    if (!room || !newest || !this.connection.connected) return;
    const upToDate = room.lastReadMessageId === newest.id || this.readUpTo.get(roomId) === newest.id;
    if (upToDate && !room.unreadCount && !room.unreadMentionCount) return;
    if (this.reading.has(roomId)) {
      this.readAgain.add(roomId);
      return;
    }
    this.reading.add(roomId);
    this.connection.request("MarkMessagesAsRead", { roomId, messageId: newest.id })
      .then((ack) => {
        this.readUpTo.set(roomId, newest.id); // the pointer may already be further (another device): no repeat
        this.store.updateRoom(roomId, (r) => {
          r.lastReadMessageId = ack.lastReadMessageId; // never behind newest: the pointer only moves forward
          r.unreadCount = 0;
          r.unreadMentionCount = 0;
        });
      })
      .catch(() => {}) // the next message or visit tries again
      .finally(() => {
        this.reading.delete(roomId);
        if (this.readAgain.delete(roomId)) this.markRead(roomId);
      });
  }

  /** The composer's text changed: say we type (refreshed while we go on), stop after a pause. */
  typing(roomId, hasText) {
    if (!hasText) {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if (this.typingRoom !== roomId || now - this.typingSentAt > TYPING_REFRESH_MS) {
      if (this.typingRoom && this.typingRoom !== roomId) this.stopTyping();
      this.typingRoom = roomId;
      this.typingSentAt = now;
      this.emitTyping(roomId, true);
    }
    clearTimeout(this.typingStop);
    this.typingStop = setTimeout(() => this.stopTyping(), TYPING_PAUSE_MS);
  }

  stopTyping(tellServer = true) {
    clearTimeout(this.typingStop);
    if (this.typingRoom && tellServer) this.emitTyping(this.typingRoom, false);
    this.typingRoom = null;
    this.typingSentAt = 0;
  }

  emitTyping(roomId, isTyping) {
    if (this.connection.connected) this.connection.request("SendTypingIndicator", { roomId, isTyping }).catch(() => {});
  }
}

/** Members named as @username in the text (the server wants their ids in mentionedUserIds). */
export function mentionsIn(content, room) {
  const ids = new Set();
  for (const [, raw] of content.matchAll(/@([A-Za-z0-9_.-]{3,32})/g)) {
    for (const name of [raw, raw.replace(/[.-]+$/, "")]) {
      const member = room.members.find((m) => m.username.toLowerCase() === name.toLowerCase());
      if (member) ids.add(member.id);
    }
  }
  return [...ids];
}
