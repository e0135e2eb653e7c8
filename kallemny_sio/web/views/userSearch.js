// A username search box with a list of results (GET /api/chat/users?q=), newest answer wins.

import { el, personName } from "./dom.js";
import { describeError } from "../errors.js";

const DEBOUNCE_MS = 200;

/**
 * Wire `input` to fill `results` with li[data-user-id] > button.pick-user.
 * `exclude()` gives the ids to leave out; `onPick(user)` is called on a click; `onError(text)` shows a failure.
 */
export function userSearch({ api, input, results, exclude, onPick, onError }) {
  let timer = null;
  let asked = 0;
  let users = [];
  const draw = () => {
    const hidden = exclude();
    results.replaceChildren(...users.filter((u) => !hidden.has(u.id)).map((user) => el("li", { dataset: { userId: user.id } },
      el("button", { type: "button", class: "pick-user", text: labelOf(user) }))));
  };
  const search = async () => {
    const prefix = input.value.trim();
    const ticket = ++asked;
    if (!prefix) {
      users = [];
      draw();
      return;
    }
    try {
      const found = await api.searchUsers(prefix);
      if (ticket !== asked) return; // an older answer arriving late
      users = found;
      onError("");
      draw();
    } catch (error) {
      if (ticket === asked) onError(describeError(error));
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  });
  results.addEventListener("click", (event) => {
    const li = event.target.closest("li[data-user-id]");
    const user = li && users.find((u) => u.id === li.dataset.userId);
    if (user && event.target.closest("button.pick-user")) {
      onPick(user);
      draw();
    }
  });
  return {
    clear() {
      clearTimeout(timer);
      asked += 1;
      users = [];
      input.value = "";
      draw();
    },
    redraw: draw,
  };
}

/** "alice", or "Alice Smith (@alice)" when the display name differs. */
export function labelOf(user) {
  const name = personName(user);
  return name === user.username ? user.username : `${name} (@${user.username})`;
}
