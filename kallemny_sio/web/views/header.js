// The signed-in header: who we are and the connection's state.

import { byId, personName } from "./dom.js";

const WORDS = { connected: "Connected", connecting: "Connecting…", disconnected: "Disconnected" };

export function renderHeader(store) {
  if (!store.me) return;
  byId("me").textContent = personName(store.me);
  const status = byId("connection-status");
  if (status.dataset.state !== store.connection) {
    status.dataset.state = store.connection;
    status.textContent = WORDS[store.connection];
  }
}
