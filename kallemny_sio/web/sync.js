// Loading and catching up: the room list, a room's history (and scroll-back), and after a reconnect or a
// Resync the change feed and history `after=` of every room this tab holds, merged by message id.

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
    this.store.setRooms(await this.api.allRooms());
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
   * Catch up after a (re)connect (`since` null: resume from the highest changeSeq held) or a Resync
   * (`since`: resume from the highest changeSeq held from before the interruption). One at a time; a request
   * made meanwhile runs once more afterwards, from the earliest point asked for.
   */
  catchUp(since = null) {
    if (this.running) {
      this.again = this.again ? { since: earlier(this.again.since, since) } : { since };
      return this.running;
    }
    this.running = this.catchUpOnce(since)
      .catch((error) => {
        this.report(error);
        setTimeout(() => {
          if (this.connection.connected) this.catchUp(since);
        }, CATCH_UP_RETRY_MS);
      })
      .finally(() => {
        this.running = null;
        if (this.again) {
          const next = this.again;
          this.again = null;
          this.catchUp(next.since);
        }
      });
    return this.running;
  }

  async catchUpOnce(since) {
    await this.loadRooms();
    const rooms = [...this.store.messages.entries()].filter(([, held]) => held.loaded);
    for (const [roomId, held] of rooms) {
      const room = this.store.rooms.get(roomId);
      if (!room) continue;
      const after = held.maxChangeSeq(since);
      if ((room.lastChangeSeq || 0) - after > MAX_CATCH_UP_CHANGES) {
        this.store.forgetMessages(roomId);
        if (this.store.openRoomId === roomId) await this.openRoom(roomId);
        continue;
      }
      try {
        await this.catchUpRoom(roomId, after);
      } catch (error) {
        if (error.code !== "forbidden" && error.code !== "not_found") throw error;
        this.store.removeRoom(roomId); // we left it, or it was deleted, since the list was read
      }
    }
  }

  async catchUpRoom(roomId, afterChangeSeq) {
    // Every change (new messages, edits, deletions, reactions) after what we held, all pages.
    await this.api.changes(roomId, afterChangeSeq, (messages) => this.store.applyMessages(roomId, messages));
    // And history after the newest message held: the contract's other no-gap guarantee; merged by id.
    const held = this.store.roomMessages(roomId);
    let newest = held.newest();
    while (newest) {
      const page = await this.api.history(roomId, { after: newest.id, limit: 100 });
      this.store.applyMessages(roomId, page.messages);
      if (!page.hasMore || !page.messages.length) break;
      newest = page.messages[page.messages.length - 1];
    }
  }
}

/** The catch-up that covers both: a Resync's `since` reaches further back than a reconnect's (null). */
function earlier(a, b) {
  if (a === null) return b;
  if (b === null) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}
