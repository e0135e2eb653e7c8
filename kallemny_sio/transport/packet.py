"""A Socket.IO packet class that serializes its data once (through ``AsyncServer(serializer=...)``).

python-socketio decides whether a packet is binary by walking its data
recursively in Python, then serializes the same data again to encode it; for
a chat event that walk costs about as much as the JSON. This class makes the
JSON (orjson) while checking: data that serializes has no binary parts, and
the text made is the one sent. Data with ``bytes`` in it falls back to the
stock walk and encoding, so binary events keep working.
"""

from __future__ import annotations

from typing import Any

import orjson
from socketio import packet

from . import json_shim


class JsonPacket(packet.Packet):
    json = json_shim
    _json: str | None = None

    def data_is_binary(self, data: Any) -> bool:  # type: ignore[override]
        # Called once from ``__init__`` (as ``self.data_is_binary(self.data)``).
        if data is None:
            return False
        try:
            self._json = orjson.dumps(data).decode()
        except TypeError:
            return packet.Packet.data_is_binary(data)
        return False

    def encode(self) -> Any:
        text = self._json
        if text is None or self.packet_type not in (packet.EVENT, packet.ACK):
            return super().encode()
        encoded = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            encoded += self.namespace + ","
        if self.id is not None:
            encoded += str(self.id)
        return encoded + text
