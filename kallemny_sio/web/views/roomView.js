// The open room: header, ul#messages (keyed by message id, in creation order), typing, seen-by, scroll-back.

import { byId, clockTime, el, mutedUntil, otherMember, personName, replaceKeepingFocus, roomTitle } from "./dom.js";
import { drawMessage, quoteText } from "./message.js";

const NEAR_BOTTOM_PX = 80;
const NEAR_TOP_PX = 40;

export class RoomView {
  /**
   * @param deps.store the Store
   * @param deps.actions the Actions
   * @param deps.sync the Sync (older pages)
   * @param deps.composer the Composer (replies)
   * @param deps.fetchMessage (roomId, messageId) => Promise of a message (a quoted one not loaded)
   * @param deps.onBack () => void (the phone's back button)
   * @param deps.onSettings () => void, deps.onLeave () => void
   * @param deps.onBlock (userId, blocking) => void: block or unblock the other person of a private room
   * @param deps.onReport (roomId, messageId) => void: report someone else's message
   */
  constructor(deps) {
    Object.assign(this, deps);
    this.ul = byId("messages");
    this.items = new Map(); // "m:<id>" or "c:<clientMessageId>" -> li
    this.drawn = new Map(); // key -> signature of what the li shows
    this.roomId = null;
    this.stickToBottom = true;
    this.editing = null; // {messageId, draft}
    this.pickerFor = null; // message id whose emoji picker is open
    this.quotes = new Map(); // message id -> a quoted message fetched by id (null while on its way)
    this.muteTimer = null; // draws the room again when our mute ends
    this.ul.addEventListener("click", (event) => this.clicked(event));
    this.ul.addEventListener("keydown", (event) => this.keyed(event));
    this.ul.addEventListener("input", (event) => {
      if (event.target.matches("input.edit-input") && this.editing) this.editing.draft = event.target.value;
    });
    this.ul.addEventListener("scroll", () => {
      if (this.ul.scrollTop < NEAR_TOP_PX && this.roomId) this.sync.loadOlder(this.roomId);
    });
    byId("load-older").addEventListener("click", () => this.roomId && this.sync.loadOlder(this.roomId));
    byId("back-button").addEventListener("click", () => this.onBack());
    byId("room-settings-button").addEventListener("click", () => this.onSettings());
    byId("leave-room-button").addEventListener("click", () => this.onLeave());
    byId("block-button").addEventListener("click", () => {
      const room = this.store.rooms.get(this.roomId);
      const other = room && otherMember(room, this.store.me.id);
      if (other) this.onBlock(other.id, !this.store.blocked.has(other.id));
    });
  }

  render(store) {
    const room = store.openRoomId && store.rooms.get(store.openRoomId);
    document.body.classList.toggle("room-open", Boolean(room));
    byId("room-view").hidden = !room;
    byId("no-room-selected").hidden = Boolean(room);
    if (!room) {
      this.switchTo(null);
      return;
    }
    this.switchTo(room.id);
    const meId = store.me.id;
    const held = store.roomMessages(room.id);
    byId("room-title").textContent = roomTitle(room, meId);
    byId("room-topic").textContent = room.topic || "";
    const other = otherMember(room, meId);
    const dot = byId("room-presence");
    dot.hidden = !other;
    if (other) {
      dot.dataset.online = String(store.isOnline(other.id));
      dot.title = `${personName(other)} is ${store.isOnline(other.id) ? "online" : "offline"}`;
    }
    const manager = room.type === "group" && (room.myRole === "owner" || room.myRole === "admin");
    byId("room-settings-button").hidden = !manager;
    byId("leave-room-button").hidden = room.type !== "group";
    this.renderNotices(store, room, other);
    byId("load-older").hidden = !(held.loaded && held.hasMoreOlder);
    byId("no-messages").hidden = !held.loaded || held.byId.size > 0 || held.pending.size > 0;
    this.renderMessages(store, room, held);
    this.renderTyping(room, held);
  }

  /** #block-button (private rooms), #muted-notice and #blocked-notice; the composer stays usable. */
  renderNotices(store, room, other) {
    const block = byId("block-button");
    const blocking = Boolean(other) && store.blocked.has(other.id);
    block.hidden = !other;
    block.textContent = blocking ? "Unblock" : "Block";
    block.setAttribute("aria-pressed", String(blocking));
    const blocked = byId("blocked-notice");
    const refusal = other ? store.refusals.get(room.id) : null;
    blocked.textContent = blocking ? "You blocked this user" : refusal || "";
    blocked.hidden = !blocked.textContent;

    const me = room.members.find((m) => m.id === store.me.id);
    const until = mutedUntil(me);
    const muted = byId("muted-notice");
    muted.textContent = until ? `You are muted until ${clockTime(until)}` : "";
    muted.hidden = !until;
    clearTimeout(this.muteTimer);
    if (until) this.muteTimer = setTimeout(() => store.changed(), Math.min(Date.parse(until) - Date.now() + 50, 2 ** 31 - 1));
  }

  switchTo(roomId) {
    if (this.roomId === roomId) return;
    this.roomId = roomId;
    this.items.clear();
    this.drawn.clear();
    this.ul.replaceChildren();
    this.editing = null;
    this.pickerFor = null;
    this.stickToBottom = true;
    this.composer.switchTo(roomId);
  }

  /** Signed out: forget what was fetched for this user. */
  reset() {
    this.quotes.clear();
    this.switchTo(null);
  }

  renderMessages(store, room, held) {
    const meId = store.me.id;
    const stored = held.sorted();
    const list = [...stored, ...held.pending.values()];
    const seen = seenBy(room, held, meId);
    const manager = room.type === "group" && (room.myRole === "owner" || room.myRole === "admin");
    const ul = this.ul;
    const atBottom = this.stickToBottom || ul.scrollHeight - ul.scrollTop - ul.clientHeight < NEAR_BOTTOM_PX;
    const anchor = atBottom ? null : this.firstVisible();
    const anchorOffset = anchor ? anchor.offsetTop - ul.scrollTop : 0;

    const keys = new Set();
    list.forEach((item, index) => {
      const key = item.id ? `m:${item.id}` : `c:${item.clientMessageId}`;
      keys.add(key);
      let li = this.items.get(key);
      if (!li && item.id && item.clientMessageId) li = this.adopt(`c:${item.clientMessageId}`, key);
      if (!li) {
        li = el("li");
        this.items.set(key, li);
      }
      const view = this.viewOf(store, room, held, item, { meId, manager, seen });
      const signature = JSON.stringify([item.changeSeq, item.state, item.error, view.author, view.editing !== null,
        view.pickerOpen, view.quote, view.seenBy, view.canDelete,
        (item.reactions || []).map((r) => view.reacted(r.emoji))]);
      if (this.drawn.get(key) !== signature) {
        this.drawn.set(key, signature);
        replaceKeepingFocus(li, ...drawMessage(li, item, view));
        if (view.editing !== null) this.focusEditor(li);
      }
      if (ul.children[index] !== li) ul.insertBefore(li, ul.children[index] || null);
    });
    for (const [key, li] of this.items) {
      if (!keys.has(key)) {
        li.remove();
        this.items.delete(key);
        this.drawn.delete(key);
      }
    }

    if (atBottom) {
      ul.scrollTop = ul.scrollHeight;
      if (held.loaded) this.stickToBottom = false;
    } else if (anchor && anchor.isConnected) {
      ul.scrollTop = anchor.offsetTop - anchorOffset; // older messages above did not move what we read
    }
  }

  /** The pending li of our message becomes the stored message's li (same element: focus and place kept). */
  adopt(oldKey, newKey) {
    const li = this.items.get(oldKey);
    if (!li) return null;
    this.items.delete(oldKey);
    this.drawn.delete(oldKey);
    this.items.set(newKey, li);
    return li;
  }

  viewOf(store, room, held, item, { meId, manager, seen }) {
    const mine = item.senderId === meId;
    const author = item.id ? authorName(room, item) : personName(store.me);
    const live = Boolean(item.id) && !item.deletedAt;
    let quote = null;
    if (item.replyToId) {
      const quoted = held.byId.get(item.replyToId) || this.quoted(room.id, item.replyToId);
      quote = quoteText(quoted, quoted ? authorName(room, quoted) : "");
    }
    return {
      mine,
      author,
      canEdit: live && mine && item.type !== "system",
      canDelete: live && (mine || manager),
      canReport: live && !mine && Boolean(item.senderId),
      editing: this.editing && this.editing.messageId === item.id && live ? this.editing.draft : null,
      pickerOpen: live && this.pickerFor === item.id,
      quote,
      seenBy: seen && item.id === seen.messageId ? seen.text : null,
      mentionsMe: (item.mentionedUserIds || []).includes(meId) && !mine,
      reacted: (emoji) => item.id ? store.hasReacted(item.id, emoji) : false,
    };
  }

  /** A quoted message that is not in the loaded window: fetched once by id. */
  quoted(roomId, messageId) {
    if (!this.quotes.has(messageId)) {
      this.quotes.set(messageId, null);
      this.fetchMessage(roomId, messageId)
        .then((message) => {
          this.quotes.set(messageId, message);
          this.store.changed();
        })
        .catch(() => {});
    }
    return this.quotes.get(messageId);
  }

  firstVisible() {
    for (const li of this.ul.children) {
      if (li.offsetTop + li.offsetHeight > this.ul.scrollTop) return li;
    }
    return null;
  }

  focusEditor(li) {
    const input = li.querySelector("input.edit-input");
    if (input && document.activeElement !== input) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  }

  renderTyping(room, held) {
    const names = [...held.typing.entries()].map(([userId, { name }]) => {
      const member = room.members.find((m) => m.id === userId);
      return member ? personName(member) : name || "Someone";
    });
    const typing = byId("typing");
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    if (typing.textContent !== text) typing.textContent = text;
    typing.hidden = !text;
  }

  // Actions on messages (event delegation on ul#messages)

  clicked(event) {
    const button = event.target.closest("button");
    const li = event.target.closest("li.message");
    if (!button || !li || !this.roomId) return;
    const roomId = this.roomId;
    const messageId = li.dataset.messageId;
    const held = this.store.roomMessages(roomId);
    const message = messageId && held.byId.get(messageId);
    const is = (name) => button.classList.contains(name);
    if (is("retry-button")) this.actions.retry(roomId, li.dataset.clientMessageId);
    else if (is("discard-button")) this.actions.discard(roomId, li.dataset.clientMessageId);
    else if (!message) return;
    else if (is("reply-button")) this.composer.replyTo(message, authorName(this.store.rooms.get(roomId), message));
    else if (is("react-button")) this.togglePicker(message.id);
    else if (is("emoji-choice")) {
      this.pickerFor = null;
      this.actions.react(roomId, message.id, button.dataset.emoji);
      this.store.changed();
      this.focusLater(li, "button.react-button");
    } else if (is("reaction")) this.actions.toggleReaction(roomId, message.id, button.dataset.emoji);
    else if (is("edit-button")) {
      this.editing = { messageId: message.id, draft: message.content };
      this.store.changed();
    } else if (is("report-button")) {
      this.onReport(roomId, message.id);
    } else if (is("delete-button")) {
      if (window.confirm("Delete this message? Everyone will see that it was deleted.")) {
        this.actions.remove(roomId, message.id);
      }
    }
  }

  keyed(event) {
    if (event.target.matches("input.edit-input")) {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        this.saveEdit(event.target.value);
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.stopEditing();
      }
    } else if (event.key === "Escape" && this.pickerFor && event.target.closest(".emoji-picker")) {
      const li = event.target.closest("li.message");
      this.pickerFor = null;
      this.store.changed();
      this.focusLater(li, "button.react-button");
    }
  }

  togglePicker(messageId) {
    this.pickerFor = this.pickerFor === messageId ? null : messageId;
    this.store.changed();
    if (this.pickerFor) this.focusLater(this.items.get(`m:${messageId}`), "button.emoji-choice");
  }

  async saveEdit(content) {
    const editing = this.editing;
    if (!editing) return;
    const text = content.trim();
    if (!text) return;
    const li = this.items.get(`m:${editing.messageId}`);
    if (await this.actions.edit(this.roomId, editing.messageId, text)) {
      if (this.editing === editing) this.stopEditing();
      this.focusLater(li, "button.edit-button");
    }
  }

  stopEditing() {
    const li = this.editing && this.items.get(`m:${this.editing.messageId}`);
    this.editing = null;
    this.store.changed();
    this.focusLater(li, "button.edit-button");
  }

  /** Focus a control of `li` once the next render has drawn it. */
  focusLater(li, selector) {
    if (!li) return;
    setTimeout(() => {
      const target = li.isConnected && li.querySelector(selector);
      if (target) target.focus();
    }, 0);
  }
}

function authorName(room, message) {
  if (!message.senderId) return "System";
  const member = room && room.members.find((m) => m.id === message.senderId);
  return member ? personName(member) : message.senderUsername || "Someone";
}

/**
 * "Seen by …" for the caller's last message: members whose read pointer (MessagesRead) is at or after it, and
 * members who sent a message after it (sending moves the sender's read pointer to their message).
 */
export function seenBy(room, held, meId) {
  const list = held.sorted();
  let mine = -1;
  for (let i = list.length - 1; i >= 0; i -= 1) {
    if (list[i].senderId === meId) {
      mine = i;
      break;
    }
  }
  if (mine < 0) return null;
  const position = new Map(list.map((message, index) => [message.id, index]));
  const later = new Set(list.slice(mine + 1).map((message) => message.senderId));
  const names = room.members
    .filter((member) => member.id !== meId)
    .filter((member) => later.has(member.id) || (position.get(held.readPointers.get(member.id)) ?? -1) >= mine)
    .map(personName);
  return names.length ? { messageId: list[mine].id, text: `Seen by ${names.join(", ")}` } : null;
}
