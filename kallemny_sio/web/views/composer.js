// form#composer: Enter sends, Shift+Enter adds a line; typing indicator; the reply being written; drafts per room.

import { byId } from "./dom.js";

const MAX_LENGTH = 4000;

export class Composer {
  /**
   * @param actions the Actions (send, typing)
   * @param onSent () => void after a message was handed to the outbox
   * @param report (text) => void to show a problem in words
   */
  constructor(actions, onSent, report) {
    this.actions = actions;
    this.onSent = onSent;
    this.report = report;
    this.roomId = null;
    this.reply = null; // the message replied to
    this.drafts = new Map(); // roomId -> unsent text
    this.input = byId("message-input");
    byId("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      } else if (event.key === "Escape" && this.reply) {
        this.cancelReply();
      }
    });
    this.input.addEventListener("input", () => {
      if (this.roomId) this.actions.typing(this.roomId, this.input.value.trim() !== "");
    });
    byId("cancel-reply").addEventListener("click", () => {
      this.cancelReply();
      this.input.focus();
    });
  }

  /** Another room opens: keep this room's draft, stop typing here, forget the reply. */
  switchTo(roomId) {
    if (this.roomId) this.drafts.set(this.roomId, this.input.value);
    this.actions.stopTyping();
    this.roomId = roomId;
    this.input.value = (roomId && this.drafts.get(roomId)) || "";
    this.cancelReply();
  }

  /** Signed out: nothing typed is kept for the next person at this screen. */
  reset() {
    this.drafts.clear();
    this.input.value = "";
    this.cancelReply();
  }

  send() {
    const content = this.input.value.trim();
    if (!this.roomId || !content) return;
    if (content.length > MAX_LENGTH) {
      this.report(`A message has at most ${MAX_LENGTH.toLocaleString("en")} characters (this one has ${content.length.toLocaleString("en")}).`);
      return;
    }
    this.actions.send(this.roomId, content, this.reply ? this.reply.id : null);
    this.input.value = "";
    this.drafts.delete(this.roomId);
    this.cancelReply();
    this.input.focus();
    this.onSent();
  }

  replyTo(message, authorName) {
    this.reply = message;
    const text = message.content.length > 80 ? `${message.content.slice(0, 80)}…` : message.content;
    byId("reply-preview").querySelector(".reply-preview-text").textContent = `Replying to ${authorName}: ${text}`;
    byId("reply-preview").hidden = false;
    this.input.focus();
  }

  cancelReply() {
    this.reply = null;
    byId("reply-preview").hidden = true;
    byId("reply-preview").querySelector(".reply-preview-text").textContent = "";
  }
}
