// The client's state: rooms, each room's messages (a Map by id, shown in creation order), pending sends,
// presence, typing and read pointers. Views subscribe; every change schedules one render.

const TYPING_EXPIRY_MS = 12000; // the server ends a typing state after 10 s; this only guards a lost event
const MAX_KEPT_REACTIONS = 2000;

/** Creation order: createdAt, then the id (shorter first, then by text) when two share a millisecond. */
export function compareMessages(a, b) {
  if (a.createdAt !== b.createdAt) return Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.createdAt < b.createdAt ? -1 : 1);
  if (a.id.length !== b.id.length) return a.id.length - b.id.length;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** One room's messages as far as this tab holds them. */
export class RoomMessages {
  constructor() {
    this.byId = new Map();
    this.pending = new Map(); // clientMessageId -> {clientMessageId, roomId, content, replyToId, state, error}
    this.loaded = false; // the latest history page has been read
    this.hasMoreOlder = true;
    this.readPointers = new Map(); // another member's id -> the last message id they read
    this.typing = new Map(); // userId -> {name, timer}
    this.sortedCache = null;
  }

  sorted() {
    if (!this.sortedCache) this.sortedCache = [...this.byId.values()].sort(compareMessages);
    return this.sortedCache;
  }

  oldest() {
    return this.sorted()[0] || null;
  }

  newest() {
    const list = this.sorted();
    return list[list.length - 1] || null;
  }

  /**
   * Take a message in its latest state: replaces our copy only when its changeSeq is higher. A message older
   * than the loaded window is left out (scrolling back brings it, in its latest state), so no gap shows.
   */
  apply(message) {
    const held = this.byId.get(message.id);
    if (held) {
      if (message.changeSeq <= held.changeSeq) return false;
    } else if (this.loaded && this.hasMoreOlder) {
      const oldest = this.oldest();
      if (oldest && compareMessages(message, oldest) < 0) return false;
    }
    this.byId.set(message.id, message);
    this.sortedCache = null;
    return true;
  }

  /** The first history page: merged with what live events brought, then anything older than it forgotten. */
  applyFirstPage(page) {
    for (const message of page.messages) this.apply(message);
    if (page.hasMore && page.messages.length) {
      const first = page.messages[0];
      for (const message of [...this.byId.values()]) {
        if (compareMessages(message, first) < 0) this.byId.delete(message.id);
      }
      this.sortedCache = null;
    }
    this.hasMoreOlder = page.hasMore;
    this.loaded = true;
  }

  /** The highest changeSeq held; with `before` (an ISO time), only among changes made before it. */
  maxChangeSeq(before = null) {
    const limit = before ? Date.parse(before) : Infinity;
    let max = 0;
    for (const message of this.byId.values()) {
      if (message.changeSeq > max && Date.parse(message.updatedAt) < limit) max = message.changeSeq;
    }
    return max;
  }
}

export class Store {
  constructor() {
    this.listeners = [];
    this.notifying = false;
    this.reset(null);
  }

  reset(me) {
    this.me = me;
    this.rooms = new Map();
    this.messages = new Map(); // roomId -> RoomMessages
    this.presence = new Map(); // userId -> isOnline
    this.openRoomId = null;
    this.connection = "connecting";
    this.roomsLoaded = false;
    this.roomLoads = new Set(); // per room-list load in flight: roomId -> room (or null: gone) heard live meanwhile
    this.myReactions = loadReactions(me);
    this.blocked = new Set(); // ids of the users the caller has blocked (GET /api/chat/blocks)
    this.refusals = new Map(); // private roomId -> the server's words refusing our last send there (a block)
    this.changed();
  }

  subscribe(listener) {
    this.listeners.push(listener);
  }

  /** Schedule one render for every change made in this task. */
  changed() {
    if (this.notifying) return;
    this.notifying = true;
    queueMicrotask(() => {
      this.notifying = false;
      for (const listener of this.listeners) listener(this);
    });
  }

  roomMessages(roomId) {
    let held = this.messages.get(roomId);
    if (!held) {
      held = new RoomMessages();
      this.messages.set(roomId, held);
    }
    return held;
  }

  // Rooms

  /** The whole room list, fresh from the server; a newer last message applied meanwhile is kept. */
  /** Start a room-list load: rooms that arrive or go while it is on its way are applied over its answer. */
  beginRoomsLoad() {
    const live = new Map();
    this.roomLoads.add(live);
    return live;
  }

  endRoomsLoad(live) {
    this.roomLoads.delete(live);
  }

  setRooms(list, live = null) {
    const next = new Map();
    for (const room of list) {
      const held = this.rooms.get(room.id);
      if (held && held.lastMessage && (!room.lastMessage || compareMessages(held.lastMessage, room.lastMessage) > 0)) {
        room.lastMessage = held.lastMessage;
        room.unreadCount = held.unreadCount;
        room.unreadMentionCount = held.unreadMentionCount;
      }
      next.set(room.id, room);
      this.notePresence(room.members);
    }
    if (live) {
      // The answer may predate a RoomCreated or AddedToRoom (or a removal) already shown.
      for (const [id, room] of live) {
        if (room === null) next.delete(id);
        else if (!next.has(id)) next.set(id, room);
      }
      this.endRoomsLoad(live);
    }
    for (const id of [...this.messages.keys()]) if (!next.has(id)) this.messages.delete(id);
    this.rooms = next;
    this.roomsLoaded = true;
    if (this.openRoomId && !next.has(this.openRoomId)) this.openRoomId = null;
    this.changed();
  }

  /** A room as the caller sees it (RoomCreated, AddedToRoom, an answer of the REST API). */
  putRoom(room) {
    const held = this.rooms.get(room.id);
    if (held && held.lastMessage && (!room.lastMessage || compareMessages(held.lastMessage, room.lastMessage) > 0)) {
      room.lastMessage = held.lastMessage;
    }
    this.rooms.set(room.id, room);
    for (const live of this.roomLoads) live.set(room.id, room);
    this.notePresence(room.members);
    this.changed();
  }

  /** RoomUpdated: the room-wide fields are current, the per-user ones are the actor's, so ours are kept. */
  mergeRoom(room) {
    const held = this.rooms.get(room.id);
    if (!held) return;
    this.rooms.set(room.id, {
      ...room,
      unreadCount: held.unreadCount,
      unreadMentionCount: held.unreadMentionCount,
      lastReadMessageId: held.lastReadMessageId,
      myRole: held.myRole,
      lastMessage: held.lastMessage,
    });
    this.notePresence(room.members);
    this.changed();
  }

  removeRoom(roomId) {
    this.rooms.delete(roomId);
    for (const live of this.roomLoads) live.set(roomId, null);
    this.messages.delete(roomId);
    if (this.openRoomId === roomId) this.openRoomId = null;
    this.changed();
  }

  /** Change one room in place (`change(room)`), then render. */
  updateRoom(roomId, change) {
    const room = this.rooms.get(roomId);
    if (!room) return;
    change(room);
    this.changed();
  }

  notePresence(users) {
    for (const user of users || []) this.presence.set(user.id, Boolean(user.isOnline));
  }

  setPresence(userId, isOnline) {
    this.presence.set(userId, isOnline);
    this.changed();
  }

  isOnline(userId) {
    return this.presence.get(userId) === true;
  }

  /** The users the caller has blocked, as GET /api/chat/blocks answers. */
  setBlocked(users) {
    this.blocked = new Set(users.map((user) => user.id));
    this.changed();
  }

  /** Why the server refused our sends in a private room (a block), or null when a send went through. */
  setRefusal(roomId, words) {
    if (words) this.refusals.set(roomId, words);
    else if (!this.refusals.delete(roomId)) return;
    this.changed();
  }

  // Messages

  /** Messages in their latest state (history, the change feed, live events). */
  applyMessages(roomId, messages) {
    const held = this.roomMessages(roomId);
    for (const message of messages) {
      held.apply(message);
      this.noteLastMessage(message);
    }
    this.changed();
  }

  noteLastMessage(message) {
    const room = this.rooms.get(message.roomId);
    if (!room) return;
    const last = room.lastMessage;
    if (!last || compareMessages(message, last) > 0 || (last.id === message.id && message.changeSeq > last.changeSeq)) {
      room.lastMessage = message;
    }
    if (message.changeSeq > (room.lastChangeSeq || 0)) room.lastChangeSeq = message.changeSeq;
  }

  /** Start a room again from its latest page (after a long gap); what we send and who read what stay. */
  forgetMessages(roomId) {
    const old = this.roomMessages(roomId);
    const fresh = new RoomMessages();
    fresh.pending = old.pending;
    fresh.readPointers = old.readPointers;
    fresh.typing = old.typing;
    this.messages.set(roomId, fresh);
    this.changed();
  }

  addPending(entry) {
    this.roomMessages(entry.roomId).pending.set(entry.clientMessageId, entry);
    this.changed();
  }

  /** Our message is stored: its pending copy gives way to it. */
  settlePending(message) {
    this.roomMessages(message.roomId).pending.delete(message.clientMessageId);
    this.applyMessages(message.roomId, [message]);
  }

  setPendingState(roomId, clientMessageId, state, error = null) {
    const entry = this.roomMessages(roomId).pending.get(clientMessageId);
    if (!entry) return;
    entry.state = state;
    entry.error = error;
    this.changed();
  }

  dropPending(roomId, clientMessageId) {
    this.roomMessages(roomId).pending.delete(clientMessageId);
    this.changed();
  }

  setTyping(roomId, userId, name, isTyping) {
    const typing = this.roomMessages(roomId).typing;
    const held = typing.get(userId);
    if (held) clearTimeout(held.timer);
    typing.delete(userId);
    if (isTyping) {
      const timer = setTimeout(() => {
        typing.delete(userId);
        this.changed();
      }, TYPING_EXPIRY_MS);
      typing.set(userId, { name, timer });
    }
    this.changed();
  }

  // The caller's own reactions (the server counts reactions but does not say whose they are).

  hasReacted(messageId, emoji) {
    return this.myReactions.has(`${messageId}\n${emoji}`);
  }

  setReacted(messageId, emoji, reacted) {
    const key = `${messageId}\n${emoji}`;
    if (reacted) this.myReactions.add(key);
    else this.myReactions.delete(key);
    saveReactions(this.me, this.myReactions);
    this.changed();
  }
}

function reactionsKey(me) {
  return `kallemny.reactions.${me.id}`;
}

function loadReactions(me) {
  if (!me) return new Set();
  try {
    return new Set(JSON.parse(window.sessionStorage.getItem(reactionsKey(me)) || "[]"));
  } catch {
    return new Set();
  }
}

function saveReactions(me, reactions) {
  if (!me) return;
  try {
    const kept = [...reactions].slice(-MAX_KEPT_REACTIONS);
    window.sessionStorage.setItem(reactionsKey(me), JSON.stringify(kept));
  } catch {
    /* storage disabled or full: reactions are still right for this page */
  }
}
