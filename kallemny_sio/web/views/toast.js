// #toast: a short message in words (errors from acks and REST, what happened to the open room).

import { byId } from "./dom.js";

const SHOW_MS = 8000;
let timer = null;

export function showToast(text) {
  const toast = byId("toast");
  toast.textContent = text;
  clearTimeout(timer);
  timer = setTimeout(() => {
    toast.textContent = "";
  }, SHOW_MS);
}
