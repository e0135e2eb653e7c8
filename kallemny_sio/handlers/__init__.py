"""The Socket.IO ``/chat`` namespace: one handler per client→server event."""
