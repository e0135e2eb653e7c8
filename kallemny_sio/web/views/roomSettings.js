// dialog#room-settings: name and topic, members and their roles, adding and removing (owners and admins).

import { byId, el, personName, replaceKeepingFocus } from "./dom.js";
import { userSearch } from "./userSearch.js";
import { describeError } from "../errors.js";

const ROLE_WORDS = { owner: "Owner", admin: "Admin", member: "Member" };

export class RoomSettingsDialog {
  constructor({ api, store }) {
    this.api = api;
    this.store = store;
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
      this.roomId = null;
    });
    const members = byId("member-list");
    members.addEventListener("change", (event) => {
      const li = event.target.closest("li[data-user-id]");
      if (li && event.target.matches("select.role-select")) {
        const { userId } = li.dataset;
        this.call(() => this.api.updateMember(this.roomId, userId, { role: event.target.value }), "Role changed.",
          (member) => this.store.updateRoom(this.roomId, (room) => {
            for (const m of room.members) if (m.id === member.id) Object.assign(m, { role: member.role, mutedUntil: member.mutedUntil });
          }));
      }
    });
    members.addEventListener("click", (event) => {
      const li = event.target.closest("li[data-user-id]");
      if (li && event.target.closest("button.remove-member-button")) {
        const { userId } = li.dataset;
        this.call(() => this.api.removeMember(this.roomId, userId), "Removed from the room.",
          () => this.store.updateRoom(this.roomId, (room) => {
            room.members = room.members.filter((m) => m.id !== userId);
          }));
      }
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
    const signature = JSON.stringify([room.myRole, room.members.map((m) => [m.id, m.role, personName(m)])]);
    if (signature === this.drawn) return;
    this.drawn = signature;
    replaceKeepingFocus(byId("member-list"), ...room.members.map((member) => this.memberItem(member, room.myRole, meId)));
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
    const removable = !self && member.role !== "owner" && (myRole === "owner" || (myRole === "admin" && member.role === "member"));
    if (removable) {
      parts.push(el("button", { type: "button", class: "remove-member-button secondary", "aria-label": `Remove ${personName(member)}`, text: "Remove" }));
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
