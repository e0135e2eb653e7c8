// ul#room-list: the rooms, most recent activity first, with unread and mention badges and presence.

import { byId, el, otherMember, personName, roomTitle } from "./dom.js";

function activity(room) {
  return Date.parse((room.lastMessage && room.lastMessage.createdAt) || room.createdAt) || 0;
}

function preview(room, meId) {
  const last = room.lastMessage;
  if (!last) return "No messages yet";
  if (last.deletedAt) return "This message was deleted";
  const who = last.senderId === meId ? "You" : last.senderUsername || "System";
  return `${who}: ${last.content}`;
}

export class RoomListView {
  /** `open(roomId)` is called when a room is picked (click, Enter or Space). */
  constructor(open) {
    this.list = byId("room-list");
    this.items = new Map(); // roomId -> li
    this.drawn = new Map(); // roomId -> signature of what its li shows
    const pick = (event) => {
      const li = event.target.closest("li.room");
      if (li) open(li.dataset.roomId);
    };
    this.list.addEventListener("click", pick);
    this.list.addEventListener("keydown", (event) => {
      if ((event.key === "Enter" || event.key === " ") && event.target.matches("li.room")) {
        event.preventDefault();
        pick(event);
      }
    });
  }

  render(store) {
    const meId = store.me && store.me.id;
    const rooms = [...store.rooms.values()].sort((a, b) => activity(b) - activity(a));
    for (const [id, li] of this.items) {
      if (!store.rooms.has(id)) {
        li.remove();
        this.items.delete(id);
        this.drawn.delete(id);
      }
    }
    rooms.forEach((room, index) => {
      let li = this.items.get(room.id);
      if (!li) {
        li = el("li", { class: "room", tabindex: 0, role: "button", dataset: { roomId: room.id } });
        this.items.set(room.id, li);
      }
      this.fill(li, room, store, meId);
      if (this.list.children[index] !== li) this.list.insertBefore(li, this.list.children[index] || null);
    });
    byId("no-rooms").hidden = !store.roomsLoaded || rooms.length > 0;
  }

  fill(li, room, store, meId) {
    const title = roomTitle(room, meId);
    const other = otherMember(room, meId);
    const open = store.openRoomId === room.id;
    li.classList.toggle("active", open);
    if (open) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
    const unread = room.unreadCount || 0;
    const mentions = room.unreadMentionCount || 0;
    li.setAttribute("aria-label", `${title}${unread ? `, ${unread} unread` : ""}${mentions ? `, ${mentions} mentioning you` : ""}`);
    const parts = [
      other ? el("span", {
        class: "presence-dot",
        dataset: { online: String(store.isOnline(other.id)) },
        title: `${personName(other)} is ${store.isOnline(other.id) ? "online" : "offline"}`,
      }) : el("span", { class: "group-mark", "aria-hidden": "true", text: "#" }),
      el("span", { class: "room-name", text: title }),
      el("span", { class: "unread-badge", text: String(unread), hidden: unread === 0 }),
      el("span", { class: "mention-badge", text: String(mentions), hidden: mentions === 0 }),
      el("span", { class: "room-preview", text: preview(room, meId) }),
    ];
    const signature = JSON.stringify([title, open, unread, mentions, other && store.isOnline(other.id), preview(room, meId)]);
    if (this.drawn.get(room.id) !== signature) {
      this.drawn.set(room.id, signature);
      li.replaceChildren(...parts);
    }
  }
}
