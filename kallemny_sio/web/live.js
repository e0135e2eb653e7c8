// Server → client events of the contract (sections 4, 6, 7, 8), applied to the store.

/**
 * @param {object} deps
 * @param deps.connection the Connection
 * @param deps.store the Store
 * @param deps.sync the Sync (Resync, rooms we do not know yet)
 * @param deps.outbox the Outbox (our own messages arriving before their ack)
 * @param deps.markRead (roomId) => void: called when a message arrives in the room being read
 * @param deps.isReading (roomId) => boolean: the room is open and the page visible
 * @param deps.notify (text) => void: tells the user something happened to the open room
 */
export function listen({ connection, store, sync, outbox, markRead, isReading, notify }) {
  const me = () => store.me.id;
  let reloadTimer = null;
  const reloadRoomsSoon = () => {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => sync.loadRooms().catch(() => {}), 300);
  };

  connection.on("ReceiveMessage", (message) => {
    const room = store.rooms.get(message.roomId);
    if (!room) {
      reloadRoomsSoon(); // a room we have not heard of yet: the list brings it with its counts
      return;
    }
    if (message.senderId === me()) {
      outbox.settle(message.clientMessageId);
      store.settlePending(message);
      store.refusals.delete(message.roomId); // a send went through: no block stands
      room.unreadCount = 0; // sending moves our read pointer to the message
      room.unreadMentionCount = 0;
      room.lastReadMessageId = message.id;
    } else {
      const known = store.roomMessages(message.roomId).byId.has(message.id)
        || (room.lastMessage && room.lastMessage.id === message.id); // delivered again, or caught up already
      store.applyMessages(message.roomId, [message]);
      if (message.senderId) store.setTyping(message.roomId, message.senderId, "", false);
      if (isReading(message.roomId)) {
        markRead(message.roomId);
      } else if (!known) {
        room.unreadCount += 1;
        if ((message.mentionedUserIds || []).includes(me())) room.unreadMentionCount += 1;
      }
    }
    store.changed();
  });

  const changedMessage = (message) => {
    if (store.rooms.has(message.roomId)) store.applyMessages(message.roomId, [message]);
  };
  connection.on("MessageUpdated", changedMessage);
  connection.on("MessageDeleted", changedMessage);

  const presence = ({ userId, isOnline }) => store.setPresence(userId, Boolean(isOnline));
  connection.on("UserOnline", presence);
  connection.on("UserOffline", presence);

  connection.on("UserTyping", ({ roomId, userId, username, isTyping }) => {
    if (userId === me() || !store.rooms.has(roomId)) return;
    store.setTyping(roomId, userId, username, Boolean(isTyping));
  });

  connection.on("MessagesRead", ({ roomId, userId, lastReadMessageId }) => {
    const room = store.rooms.get(roomId);
    if (!room) return;
    if (userId === me()) {
      room.lastReadMessageId = lastReadMessageId; // read on another device (or this one)
      if (room.lastMessage && room.lastMessage.id === lastReadMessageId) {
        room.unreadCount = 0;
        room.unreadMentionCount = 0;
      }
    } else {
      store.roomMessages(roomId).readPointers.set(userId, lastReadMessageId);
    }
    store.changed();
  });

  connection.on("RoomCreated", (room) => store.putRoom(room));
  connection.on("AddedToRoom", (room) => store.putRoom(room));
  connection.on("RoomUpdated", (room) => store.mergeRoom(room));

  const gone = (roomId, text) => {
    const room = store.rooms.get(roomId);
    if (room && store.openRoomId === roomId) notify(text(room));
    store.removeRoom(roomId);
  };
  connection.on("RemovedFromRoom", ({ roomId, reason }) => {
    const verb = { left: "You left", banned: "You were banned from" }[reason] || "You were removed from";
    gone(roomId, (room) => `${verb} ${room.name || "the room"}.`);
  });
  connection.on("RoomDeleted", ({ roomId }) => gone(roomId, (room) => `${room.name || "The room"} was deleted.`));

  connection.on("UserJoinedRoom", ({ roomId, user }) => {
    store.updateRoom(roomId, (room) => {
      if (!room.members.some((m) => m.id === user.id)) room.members.push({ role: "member", mutedUntil: null, ...user });
    });
    store.notePresence([user]);
  });
  connection.on("UserLeftRoom", ({ roomId, userId }) => {
    store.updateRoom(roomId, (room) => {
      room.members = room.members.filter((m) => m.id !== userId);
    });
    store.roomMessages(roomId).readPointers.delete(userId);
  });
  connection.on("MemberUpdated", ({ roomId, userId, role, mutedUntil }) => {
    store.updateRoom(roomId, (room) => {
      for (const member of room.members) {
        if (member.id === userId) Object.assign(member, { role, mutedUntil });
      }
      if (userId === me()) room.myRole = role;
    });
  });
  connection.on("UserUpdated", (user) => {
    if (user.id === me()) Object.assign(store.me, user);
    for (const room of store.rooms.values()) {
      for (const member of room.members) if (member.id === user.id) Object.assign(member, user);
    }
    store.changed();
  });

  connection.on("Resync", ({ since }) => sync.catchUp(sync.snapshot(since || null)));
}
