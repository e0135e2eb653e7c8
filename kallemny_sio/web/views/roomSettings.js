// dialog#room-settings: name and topic, members and their roles, adding, removing, muting and banning (owners
// and admins), handing the group over and deleting it (the owner).

import { byId, clockTime, el, mutedUntil, personName, replaceKeepingFocus } from "./dom.js";
import { userSearch } from "./userSearch.js";
import { describeError } from "../errors.js";

const ROLE_WORDS = { owner: "Owner", admin: "Admin", member: "Member" };
const MUTE_MS = 60 * 60 * 1000;

export class RoomSettingsDialog {
  /** @param deps.deleted (text) => void: tells the user the group is gone */
  constructor({ api, store, deleted }) {
    this.api = api;
    this.store = store;
    this.deleted = deleted;
    this.dialog = byId("room-settings");
    this.roomId = null;
    this.drawn = "";
    this.search = userSearch({
      api,
      input: byId("add-member-search"),
      results: byId("add-member-results"),
      exclude: () => new Set((this.room() ? this.room().members : []).map((m) => m.id)),
      onPick: (user) => this.call(() => this.api.addMembers(this.roomId, [user.id]), `${personName(user)} was added.`),
      onError: (text) => this.error(text),
    });
    byId("room-settings-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    byId("room-settings-close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => {
      clearTimeout(this.muteTimer);
      this.roomId = null;
    });
    const members = byId("member-list");
    members.addEventListener("change", (event) => {
      const li = event.target.closest("li[data-user-id]");
      if (li && event.target.matches("select.role-select")) {
        const { userId } = li.dataset;
        this.setMember(userId, { role: event.target.value }, "Role changed.");
      }
    });
    members.addEventListener("click", (event) => {
      const li = event.target.closest("li[data-user-id]");
      const button = event.target.closest("button");
      if (!li || !button) return;
      const { userId } = li.dataset;
      const member = this.room() && this.room().members.find((m) => m.id === userId);
      const name = personName(member);
      const is = (cls) => button.classList.contains(cls);
      if (is("remove-member-button")) {
        this.call(() => this.api.removeMember(this.roomId, userId), "Removed from the room.", () => this.dropMember(userId));
      } else if (is("mute-button")) {
        this.setMember(userId, { mutedUntil: new Date(Date.now() + MUTE_MS).toISOString() }, `${name} is muted for an hour.`);
      } else if (is("unmute-button")) {
        this.setMember(userId, { mutedUntil: null }, `${name} may write again.`);
      } else if (is("ban-button")) {
        if (!window.confirm(`Ban ${name}? They leave the group and cannot join or be added again.`)) return;
        this.call(() => this.api.ban(this.roomId, userId), `${name} was banned.`, () => this.dropMember(userId));
      } else if (is("make-owner-button")) {
        if (!window.confirm(`Make ${name} the owner? You will be an admin.`)) return;
        this.setMember(userId, { role: "owner" }, `${name} is the owner now.`);
      }
    });
    byId("delete-room-button").addEventListener("click", () => this.deleteRoom());
  }

  /** PATCH one member (role, mute); the answer (a Member) updates the room until MemberUpdated says the same. */
  setMember(userId, patch, done) {
    return this.call(() => this.api.updateMember(this.roomId, userId, patch), done,
      (member) => this.store.updateRoom(this.roomId, (room) => {
        for (const m of room.members) if (m.id === member.id) Object.assign(m, { role: member.role, mutedUntil: member.mutedUntil });
        if (member.role === "owner" && member.id !== this.store.me.id && room.myRole === "owner") {
          room.myRole = "admin"; // handing over makes the old owner an admin
          for (const m of room.members) if (m.id === this.store.me.id) m.role = "admin";
        }
      }));
  }

  dropMember(userId) {
    this.store.updateRoom(this.roomId, (room) => {
      room.members = room.members.filter((m) => m.id !== userId);
    });
  }

  async deleteRoom() {
    const room = this.room();
    if (!room || !window.confirm(`Delete ${room.name || "this group"}? Its messages are gone for everyone.`)) return;
    const roomId = room.id;
    await this.call(() => this.api.deleteRoom(roomId), "Deleted.", () => {
      this.dialog.close();
      this.store.removeRoom(roomId);
      this.deleted(`${room.name || "The group"} was deleted.`);
    });
  }

  room() {
    return this.roomId ? this.store.rooms.get(this.roomId) : null;
  }

  open(roomId) {
    this.roomId = roomId;
    const room = this.room();
    if (!room) return;
    byId("room-settings-name").value = room.name || "";
    byId("room-topic-input").value = room.topic || "";
    this.status("");
    this.error("");
    this.search.clear();
    this.drawn = "";
    this.dialog.showModal();
    this.render();
    byId("room-settings-name").focus();
  }

  /** Keep the member list in step with the room (events may change it while the dialog is open). */
  render() {
    const room = this.room();
    if (!this.dialog.open) return;
    if (!room) {
      this.dialog.close(); // we left, or the room is gone
      return;
    }
    const meId = this.store.me.id;
    const now = Date.now();
    const signature = JSON.stringify([room.myRole, room.members.map((m) => [m.id, m.role, personName(m), mutedUntil(m, now)])]);
    byId("delete-room-button").hidden = room.myRole !== "owner";
    if (signature === this.drawn) return;
    this.drawn = signature;
    replaceKeepingFocus(byId("member-list"), ...room.members.map((member) => this.memberItem(member, room.myRole, meId)));
    this.redrawWhenMutesEnd(room, now);
  }

  /** A mute ends without an event: draw the list again then. */
  redrawWhenMutesEnd(room, now) {
    clearTimeout(this.muteTimer);
    const ends = room.members.map((m) => mutedUntil(m, now)).filter(Boolean).map((until) => Date.parse(until));
    if (!ends.length) return;
    this.muteTimer = setTimeout(() => this.render(), Math.min(Math.min(...ends) - now + 50, 2 ** 31 - 1));
  }

  memberItem(member, myRole, meId) {
    const self = member.id === meId;
    const name = personName(member) + (self ? " (you)" : "");
    const parts = [el("span", { class: "member-name", text: name })];
    if (member.role === "owner") {
      parts.push(el("span", { class: "member-role", text: ROLE_WORDS.owner }));
    } else {
      // Only the owner gives roles; an admin sees them.
      const select = el("select", { class: "role-select", "aria-label": `Role of ${personName(member)}`, disabled: myRole !== "owner" || self },
        el("option", { value: "member", text: ROLE_WORDS.member }),
        el("option", { value: "admin", text: ROLE_WORDS.admin }));
      select.value = member.role;
      parts.push(select);
    }
    // The owner acts on anyone else, an admin on members only (contract section 7).
    const manageable = !self && member.role !== "owner" && (myRole === "owner" || (myRole === "admin" && member.role === "member"));
    const who = personName(member);
    const until = mutedUntil(member);
    if (until) parts.push(el("span", { class: "muted-until", text: `Muted until ${clockTime(until)}` }));
    if (manageable) {
      parts.push(until
        ? el("button", { type: "button", class: "unmute-button secondary", "aria-label": `Unmute ${who}`, text: "Unmute" })
        : el("button", { type: "button", class: "mute-button secondary", "aria-label": `Mute ${who} for 1 hour`, text: "Mute for 1 hour" }));
      parts.push(el("button", { type: "button", class: "remove-member-button secondary", "aria-label": `Remove ${who}`, text: "Remove" }));
      parts.push(el("button", { type: "button", class: "ban-button secondary", "aria-label": `Ban ${who}`, text: "Ban" }));
      if (myRole === "owner") {
        parts.push(el("button", { type: "button", class: "make-owner-button secondary", "aria-label": `Make ${who} the owner`, text: "Make owner" }));
      }
    }
    return el("li", { dataset: { userId: member.id } }, parts);
  }

  async save() {
    const room = this.room();
    if (!room) return;
    const name = byId("room-settings-name").value.trim();
    const topic = byId("room-topic-input").value.trim();
    if (!name) {
      this.error("Give the group a name.");
      return;
    }
    const patch = {};
    if (name !== room.name) patch.name = name;
    if (topic !== (room.topic || "")) patch.topic = topic || null;
    if (!Object.keys(patch).length) {
      this.status("Nothing to save.");
      return;
    }
    await this.call(() => this.api.updateRoom(this.roomId, patch), "Saved.");
  }

  /**
   * Run one REST call, then `apply(answer)` (by default: a Room answer updates the store). The events that
   * follow (RoomUpdated, UserJoinedRoom, MemberUpdated, UserLeftRoom) say the same to every member.
   */
  async call(request, done, apply = (room) => this.store.mergeRoom(room)) {
    this.error("");
    this.status("");
    try {
      apply(await request());
      this.status(done);
    } catch (error) {
      this.error(describeError(error));
      this.drawn = ""; // put a role select back to what the room says
      this.render();
    }
  }

  status(text) {
    byId("room-settings-status").textContent = text;
  }

  error(text) {
    byId("room-settings-error").textContent = text;
  }
}
