// Small DOM helpers. Text always goes in as text nodes or textContent, never as HTML.

/**
 * A new element. `props`: class, text, dataset, on<event> handlers, and attributes (true → present,
 * false/null/undefined → absent). Children are nodes or strings (inserted as text).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

/**
 * Replace `node`'s children, keeping the keyboard focus on the "same" control when there was one inside
 * (found again by `focusKey`: its class and data-emoji / data-user-id).
 */
export function replaceKeepingFocus(node, ...children) {
  const active = document.activeElement;
  const key = active && node.contains(active) && active !== node ? focusKey(active) : null;
  const caret = key && "selectionStart" in active ? active.selectionStart : null;
  node.replaceChildren(...children);
  if (!key) return;
  const again = node.querySelector(key);
  if (again) {
    again.focus();
    if (caret !== null && typeof again.setSelectionRange === "function") again.setSelectionRange(caret, caret);
  }
}

function focusKey(element) {
  let key = element.tagName.toLowerCase();
  if (element.classList.length) key += `.${[...element.classList].map((c) => CSS.escape(c)).join(".")}`;
  for (const attribute of ["data-emoji", "data-user-id"]) {
    const value = element.getAttribute(attribute);
    if (value !== null) key += `[${attribute}="${CSS.escape(value)}"]`;
  }
  return key;
}

/** A person's name as shown: the display name, else the username. */
export function personName(user) {
  return (user && (user.displayName || user.username)) || "Someone";
}

/** A room's name: a group's name; for a private room, the other person's name. */
export function roomTitle(room, meId) {
  if (room.type === "group") return room.name || "Group";
  const other = room.members.find((m) => m.id !== meId);
  return other ? personName(other) : "Private room";
}

/** The other person of a private room (null for a group). */
export function otherMember(room, meId) {
  return room.type === "private" ? room.members.find((m) => m.id !== meId) || null : null;
}

/** A time as HH:MM on the 24-hour clock, in the page's time zone. */
export function clockTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

/** The member's mute while it lasts (its ISO time), else null. */
export function mutedUntil(member, now = Date.now()) {
  const until = member && member.mutedUntil;
  return until && Date.parse(until) > now ? until : null;
}
