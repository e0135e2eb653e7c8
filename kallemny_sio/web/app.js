// Wiring: sign-in, the signed-in session (connection, outbox, sync, live events) and the views.

import { Actions } from "./actions.js";
import { Api } from "./api.js";
import { describeError } from "./errors.js";
import { listen } from "./live.js";
import { clearToken, loadToken, saveToken, takeTokenFromFragment } from "./session.js";
import { Connection, Outbox } from "./socket.js";
import { Store } from "./store.js";
import { Sync } from "./sync.js";
import { setUpAuth, showAuthError, showSignedIn } from "./views/auth.js";
import { Composer } from "./views/composer.js";
import { byId, roomTitle } from "./views/dom.js";
import { renderHeader } from "./views/header.js";
import { NewRoomDialog } from "./views/newRoomDialog.js";
import { RoomListView } from "./views/roomList.js";
import { RoomSettingsDialog } from "./views/roomSettings.js";
import { RoomView } from "./views/roomView.js";
import { showToast } from "./views/toast.js";

const SESSION_ENDED = "Your session has ended. Please sign in again.";

const store = new Store();
let token = null;
let session = null; // {connection, outbox, actions, sync} while signed in

const api = new Api(() => token, () => signOut(SESSION_ENDED));

/** Show an error in words (an ended session goes back to the sign-in form instead). */
function report(error, context = "") {
  if (error.code === "unauthorized") return;
  showToast(describeError(error, context));
}

/** The views outlive sessions: they reach the current session's parts through this (no-ops when signed out). */
function current(part) {
  return new Proxy({}, {
    get(_, name) {
      const target = session && session[part];
      if (!target) return () => undefined;
      const value = target[name];
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function isReading(roomId) {
  return store.openRoomId === roomId && document.visibilityState === "visible" && !byId("chat-view").hidden;
}

function openRoom(roomId) {
  if (!session) return;
  session.sync.openRoom(roomId);
  byId("message-input").focus();
}

async function leaveRoom() {
  const room = store.rooms.get(store.openRoomId);
  if (!room) return;
  try {
    await api.removeMember(room.id, store.me.id);
    store.removeRoom(room.id);
    showToast(`You left ${roomTitle(room, store.me.id)}.`);
  } catch (error) {
    report(error);
  }
}

/** The users we blocked, read again from the server (at the start and after each change). */
async function loadBlocks() {
  try {
    store.setBlocked(await api.blocks());
  } catch (error) {
    report(error);
  }
}

async function setBlock(userId, blocking) {
  try {
    await api.setBlock(userId, blocking);
    if (!blocking) {
      for (const room of store.rooms.values()) {
        if (room.type === "private" && room.members.some((m) => m.id === userId)) store.setRefusal(room.id, null);
      }
    }
    showToast(blocking ? "Blocked. Neither of you can write in your private room." : "Unblocked.");
  } catch (error) {
    report(error);
  }
  await loadBlocks();
}

async function reportMessage(roomId, messageId) {
  const reason = window.prompt("Why do you report this message?");
  if (reason === null) return;
  if (!reason.trim()) {
    showToast("Say why you report the message.");
    return;
  }
  try {
    await api.reportMessage(roomId, messageId, reason.trim().slice(0, 1000));
    showToast("Reported. Thank you.");
  } catch (error) {
    report(error);
  }
}

function startChat(me) {
  store.reset(me);
  showAuthError("");
  showSignedIn(true);
  const connection = new Connection(() => token, {
    status(state) {
      store.connection = state;
      store.changed();
    },
    connected() {
      const cursors = session.sync.snapshot(); // before anything of this connection arrives
      session.outbox.flush(); // messages without an ack go again, with their clientMessageId
      session.sync.catchUp(cursors); // the room list, and what the held rooms missed
    },
    unauthorized: () => signOut(SESSION_ENDED),
  });
  const outbox = new Outbox(connection, {
    onStored: (entry, message) => session.actions.stored(message),
    onRefused: (entry, error) => session.actions.refused(entry, error),
  });
  const actions = new Actions({ store, connection, outbox, report });
  const sync = new Sync({ api, connection, store, report });
  session = { connection, outbox, actions, sync };
  listen({ connection, store, sync, outbox, markRead: (id) => actions.markRead(id), isReading, notify: showToast });
  sync.loadRooms().catch(report); // at once; the first connect reads it again, so nothing sent meanwhile is missed
  loadBlocks();
  connection.connect();
}

function signOut(message = "", tellServer = false) {
  if (tellServer && token) api.logout().catch(() => {}); // the token is read before it is cleared below
  if (session) {
    session.actions.stopTyping(false);
    session.connection.close();
    session = null;
  }
  token = null;
  clearToken();
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  store.reset(null);
  roomView.reset();
  composer.reset();
  showSignedIn(false);
  showAuthError(message);
}

async function signIn(kind, username, password) {
  try {
    const auth = kind === "register" ? await api.register(username, password) : await api.login(username, password);
    token = auth.token;
    saveToken(token);
    startChat(auth.user);
  } catch (error) {
    showAuthError(describeError(error, "auth"));
  }
}

async function boot() {
  setUpAuth(signIn);
  const fromHost = takeTokenFromFragment();
  if (fromHost) saveToken(fromHost);
  token = loadToken();
  if (!token) {
    showSignedIn(false);
    return;
  }
  try {
    startChat(await api.me());
  } catch (error) {
    if (error.code === "unauthorized") return; // signed out already, with the words
    showSignedIn(false);
    showAuthError(describeError(error));
  }
}

// Views
const roomList = new RoomListView(openRoom);
const composer = new Composer(current("actions"), () => { roomView.stickToBottom = true; }, showToast);
const settings = new RoomSettingsDialog({ api, store, deleted: showToast });
const roomView = new RoomView({
  store,
  actions: current("actions"),
  sync: current("sync"),
  composer,
  fetchMessage: (roomId, messageId) => api.message(roomId, messageId),
  onBack() {
    const roomId = store.openRoomId;
    store.openRoomId = null;
    store.changed();
    setTimeout(() => document.querySelector(`li.room[data-room-id="${CSS.escape(roomId)}"]`)?.focus(), 0);
  },
  onSettings: () => settings.open(store.openRoomId),
  onLeave: leaveRoom,
  onBlock: setBlock,
  onReport: reportMessage,
});
const newRoom = new NewRoomDialog({
  api,
  store,
  created(room) {
    store.putRoom(room);
    openRoom(room.id);
  },
});
byId("new-room-button").addEventListener("click", () => newRoom.open());
byId("logout-button").addEventListener("click", () => signOut("", true));
document.addEventListener("visibilitychange", () => store.changed());

store.subscribe(() => {
  renderHeader(store);
  roomList.render(store);
  roomView.render(store);
  settings.render();
  if (session && store.openRoomId && isReading(store.openRoomId) && store.roomMessages(store.openRoomId).loaded) {
    session.actions.markRead(store.openRoomId);
  }
});

boot();
