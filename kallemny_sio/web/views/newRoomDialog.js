// dialog#new-room-dialog: a private room with one person, or a group with a name and people.

import { byId, el } from "./dom.js";
import { labelOf, userSearch } from "./userSearch.js";
import { describeError } from "../errors.js";

export class NewRoomDialog {
  /** `created(room)` gets the new (or existing private) room once the server answered. */
  constructor({ api, store, created }) {
    this.api = api;
    this.store = store;
    this.created = created;
    this.dialog = byId("new-room-dialog");
    this.kind = byId("room-kind");
    this.picked = [];
    this.search = userSearch({
      api,
      input: byId("user-search"),
      results: byId("user-results"),
      exclude: () => new Set([store.me.id, ...this.picked.map((u) => u.id)]),
      onPick: (user) => this.pick(user),
      onError: (text) => this.error(text),
    });
    this.kind.addEventListener("change", () => {
      if (this.kind.value === "private") this.picked = this.picked.slice(-1);
      this.draw();
    });
    byId("picked-users").addEventListener("click", (event) => {
      const li = event.target.closest("li[data-user-id]");
      if (li && event.target.closest("button.unpick-user")) {
        this.picked = this.picked.filter((u) => u.id !== li.dataset.userId);
        this.draw();
        this.search.redraw();
      }
    });
    byId("new-room-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    byId("new-room-cancel").addEventListener("click", () => this.dialog.close());
  }

  open() {
    this.kind.value = "private";
    byId("room-name-input").value = "";
    this.picked = [];
    this.search.clear();
    this.error("");
    this.draw();
    this.dialog.showModal();
    this.kind.focus();
  }

  pick(user) {
    this.picked = this.kind.value === "private" ? [user] : [...this.picked, user];
    this.draw();
  }

  draw() {
    byId("room-name-row").hidden = this.kind.value !== "group";
    byId("picked-users").replaceChildren(...this.picked.map((user) => el("li", { dataset: { userId: user.id } },
      el("span", { text: labelOf(user) }),
      el("button", { type: "button", class: "unpick-user secondary", "aria-label": `Remove ${labelOf(user)}`, text: "Remove" }))));
  }

  error(text) {
    byId("new-room-error").textContent = text;
  }

  async create() {
    const group = this.kind.value === "group";
    const name = byId("room-name-input").value.trim();
    if (!group && this.picked.length !== 1) return this.error("Pick the person to talk to.");
    if (group && !name) return this.error("Give the group a name.");
    const body = group
      ? { type: "group", name, memberIds: this.picked.map((u) => u.id) }
      : { type: "private", memberIds: [this.picked[0].id] };
    const button = byId("create-room-button");
    button.disabled = true;
    try {
      const room = await this.api.createRoom(body);
      this.dialog.close();
      this.created(room);
    } catch (error) {
      this.error(describeError(error));
    } finally {
      button.disabled = false;
    }
    return undefined;
  }
}
