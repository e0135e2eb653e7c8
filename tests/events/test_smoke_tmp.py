async def test_smoke(api, connect):
    a = await api.register(); b = await api.register()
    room = await api.create_private(a, b)
    ca = await connect(a); cb = await connect(b)
    ack = await ca.call("SendMessage", {"roomId": room["id"], "content": "hi", "clientMessageId": "c1"})
    assert ack["ok"], ack
    got = await cb.wait_for("ReceiveMessage")
    assert got["content"] == "hi"
    ack2 = await ca.call("SendTypingIndicator", room["id"], True)
    assert ack2 == {"ok": True}
    t = await cb.wait_for("UserTyping", lambda d: d["isTyping"] is False, timeout=3)
    r = await cb.call("MarkMessagesAsRead", room["id"])
    assert r["ok"] and r["lastReadMessageId"] == got["id"], r
    bad = await ca.call("SendMessage", {"roomId": {"$gt": ""}, "content": "x"})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid", bad
    unk = await ca.call("Nope", 1)
    assert unk["error"]["code"] == "not_found"
