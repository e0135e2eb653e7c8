// One li.message: author, time, reply quote, content (or the edit box), reactions, actions, errors, seen-by.

import { el } from "./dom.js";

export const EMOJI_CHOICES = ["👍", "❤️", "😂", "🎉", "😮", "😢"];
const QUOTE_LENGTH = 80;

/** The words of a quoted message (`.reply-quote`). */
export function quoteText(quoted, authorName) {
  if (!quoted) return "↪ Replying to an earlier message";
  if (quoted.deletedAt) return "↪ This message was deleted";
  const text = quoted.content.length > QUOTE_LENGTH ? `${quoted.content.slice(0, QUOTE_LENGTH)}…` : quoted.content;
  return `↪ ${authorName}: ${text}`;
}

/**
 * Fill `li` for `item` (a stored message, or a pending entry without id). `view` says how:
 * {mine, author, canEdit, canDelete, canReport, editing (draft text or null), pickerOpen, quote, seenBy, mentionsMe, reacted(emoji)}.
 * Sets the li's class and data attributes and returns its children.
 */
export function drawMessage(li, item, view) {
  const stored = Boolean(item.id);
  const deleted = Boolean(item.deletedAt);
  li.className = "message";
  li.classList.toggle("mine", view.mine);
  li.classList.toggle("deleted", deleted);
  li.classList.toggle("mention", view.mentionsMe);
  if (stored) li.dataset.messageId = item.id;
  if (item.clientMessageId) li.dataset.clientMessageId = item.clientMessageId;
  li.dataset.state = stored ? "sent" : item.state;

  const head = el("div", { class: "message-head" },
    el("span", { class: "message-author", text: view.author }),
    el("time", { class: "message-time", datetime: item.createdAt || null, text: timeOf(item.createdAt) }),
    item.editedAt && !deleted ? el("span", { class: "edited-mark", text: "(edited)" }) : null);
  const quote = item.replyToId ? el("div", { class: "reply-quote", text: view.quote }) : null;
  // While editing, the text stays (hidden) beside the edit box: the message is still found by what it says.
  const editing = view.editing !== null;
  const content = el("div", { class: "message-content", hidden: editing, text: deleted ? "This message was deleted" : item.content });
  const editor = editing ? el("input", { class: "edit-input", "aria-label": "Edit the message", maxlength: 4000 }) : null;
  if (editor) editor.value = view.editing;
  const parts = [head, quote, content, editor];
  if (stored) parts.push(reactions(item, view));
  if (stored && !deleted) parts.push(actions(view));
  if (stored && !deleted && view.pickerOpen) parts.push(picker());
  if (!stored && item.state === "failed") {
    parts.push(el("div", { class: "message-error", role: "alert" },
      el("span", { text: item.error || "The message was not sent." }),
      el("button", { type: "button", class: "retry-button", text: "Retry" }),
      el("button", { type: "button", class: "discard-button secondary", text: "Discard" })));
  }
  if (view.seenBy) parts.push(el("div", { class: "seen-by", text: view.seenBy }));
  return parts.filter(Boolean);
}

function reactions(message, view) {
  return el("div", { class: "reactions" }, (message.reactions || []).map(({ emoji, count }) => el("button", {
    type: "button",
    class: "reaction",
    dataset: { emoji },
    "aria-pressed": String(view.reacted(emoji)),
    "aria-label": `${emoji} ${count}${view.reacted(emoji) ? ", including you" : ""}`,
    text: `${emoji} ${count}`,
  })));
}

function actions(view) {
  return el("div", { class: "message-actions" },
    el("button", { type: "button", class: "reply-button secondary", text: "Reply" }),
    el("button", {
      type: "button", class: "react-button secondary", text: "React", "aria-haspopup": "true",
      "aria-expanded": String(view.pickerOpen),
    }),
    view.canEdit ? el("button", { type: "button", class: "edit-button secondary", text: "Edit" }) : null,
    view.canDelete ? el("button", { type: "button", class: "delete-button secondary", text: "Delete" }) : null,
    view.canReport ? el("button", { type: "button", class: "report-button secondary", text: "Report" }) : null);
}

function picker() {
  return el("div", { class: "emoji-picker", role: "group", "aria-label": "Pick a reaction" },
    EMOJI_CHOICES.map((emoji) => el("button", {
      type: "button", class: "emoji-choice", dataset: { emoji }, "aria-label": `React with ${emoji}`, text: emoji,
    })));
}

function timeOf(iso) {
  if (!iso) return "sending…";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
