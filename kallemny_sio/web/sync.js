// Loading and catching up: the room list, a room's history (and scroll-back), and after a reconnect or a
// Resync the change feed and history `after=` of every room this tab holds, merged by message id.

import { compareMessages } from "./store.js";

const PAGE = 50;
const CATCH_UP_RETRY_MS = 3000;
const MAX_CATCH_UP_CHANGES = 1000; // a longer gap: start the room again from its latest page

export class Sync {
  constructor({ api, connection, store, report }) {
    this.api = api;
    this.connection = connection;
    this.store = store;
    this.report = report; // (error) => void: shows the error in words
    this.running = null; // the catch-up in progress
    this.again = null; // what the next catch-up must cover, when one was asked for meanwhile
    this.opening = new Map(); // roomId -> promise of its first page
    this.loadingOlder = false;
  }

  async loadRooms() {
    const live = this.store.beginRoomsLoad();
    try {
      this.store.setRooms(await this.api.allRooms(), live);
    } finally {
      this.store.endRoomsLoad(live);
    }
  }

  /** Show a room: read its latest page the first time. */
  openRoom(roomId) {
    this.store.openRoomId = roomId;
    this.store.changed();
    const held = this.store.roomMessages(roomId);
    if (held.loaded) return Promise.resolve();
    if (!this.opening.has(roomId)) {
      const first = this.api.history(roomId, { limit: PAGE })
        .then((page) => {
          held.applyFirstPage(page);
          for (const message of page.messages) this.store.noteLastMessage(message);
          this.store.changed();
        })
        .catch((error) => this.report(error))
        .finally(() => this.opening.delete(roomId));
      this.opening.set(roomId, first);
    }
    return this.opening.get(roomId);
  }

  /** The page just older than the oldest message held (`before=`). */
  async loadOlder(roomId) {
    const held = this.store.roomMessages(roomId);
    const oldest = held.oldest();
    if (this.loadingOlder || !held.loaded || !held.hasMoreOlder || !oldest) return;
    this.loadingOlder = true;
    try {
      const page = await this.api.history(roomId, { before: oldest.id, limit: PAGE });
      held.hasMoreOlder = false; // lets the older messages into the window
      this.store.applyMessages(roomId, page.messages);
      held.hasMoreOlder = page.hasMore;
      this.store.changed();
    } catch (error) {
      this.report(error);
    } finally {
      this.loadingOlder = false;
    }
  }

  /**
   * Where each room held catches up from, taken when the need arises (on connect, before the outbox is
   * flushed; when a Resync arrives): its highest changeSeq (only among changes made before `since`, for a
   * Resync) and its newest message. Taken later, a message acked or received meanwhile would hide the
   * ones missed before it.
   */
  snapshot(since = null) {
    const cursors = new Map();
    for (const [roomId, held] of this.store.messages) {
      if (held.loaded) cursors.set(roomId, { changeSeq: held.maxChangeSeq(since), newest: held.newest() });
    }
    return cursors;
  }

  /**
   * Read the room list again, then catch up every room held from its cursor. One catch-up at a time; one
   * asked for meanwhile runs afterwards, from the earliest cursors of both.
   */
  catchUp(cursors) {
    if (this.running) {
      this.again = this.again ? earliest(this.again, cursors) : cursors;
      return this.running;
    }
    this.running = this.catchUpOnce(cursors)
      .catch((error) => {
        this.report(error);
        setTimeout(() => {
          if (this.connection.connected) this.catchUp(cursors);
        }, CATCH_UP_RETRY_MS);
      })
      .finally(() => {
        this.running = null;
        if (this.again) {
          const next = this.again;
          this.again = null;
          this.catchUp(next);
        }
      });
    return this.running;
  }

  async catchUpOnce(cursors) {
    await this.loadRooms();
    for (const [roomId, held] of [...this.store.messages]) {
      const room = this.store.rooms.get(roomId);
      if (!room || !held.loaded) continue;
      const cursor = cursors.get(roomId) || { changeSeq: held.maxChangeSeq(), newest: held.newest() };
      if ((room.lastChangeSeq || 0) - cursor.changeSeq > MAX_CATCH_UP_CHANGES) {
        this.store.forgetMessages(roomId);
        if (this.store.openRoomId === roomId) await this.openRoom(roomId);
        continue;
      }
      try {
        await this.catchUpRoom(roomId, cursor);
      } catch (error) {
        if (error.code !== "forbidden" && error.code !== "not_found") throw error;
        this.store.removeRoom(roomId); // we left it, or it was deleted, since the list was read
      }
    }
  }

  async catchUpRoom(roomId, { changeSeq, newest }) {
    // Every change (new messages, edits, deletions, reactions) after the cursor, all pages.
    await this.api.changes(roomId, changeSeq, (messages) => this.store.applyMessages(roomId, messages));
    // And history after the newest message held then: the contract's other no-gap guarantee; merged by id.
    let after = newest;
    while (after) {
      const page = await this.api.history(roomId, { after: after.id, limit: 100 });
      this.store.applyMessages(roomId, page.messages);
      if (!page.hasMore || !page.messages.length) break;
      after = page.messages[page.messages.length - 1];
    }
  }
}

/** Cursors that cover two catch-ups: per room, the lower changeSeq and the older newest message. */
function earliest(a, b) {
  const merged = new Map(a);
  for (const [roomId, cursor] of b) {
    const held = merged.get(roomId);
    if (!held) {
      merged.set(roomId, cursor);
      continue;
    }
    const older = !held.newest || !cursor.newest ? null : compareMessages(held.newest, cursor.newest) <= 0 ? held.newest : cursor.newest;
    merged.set(roomId, { changeSeq: Math.min(held.changeSeq, cursor.changeSeq), newest: older });
  }
  return merged;
}
