"""The chat rules. Nothing here imports aiohttp or socketio."""
