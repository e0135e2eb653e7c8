"""Tests that drive the official JavaScript socket.io-client against the server."""
