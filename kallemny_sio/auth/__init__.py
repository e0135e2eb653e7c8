"""Passwords (Argon2id) and access tokens (JWT)."""
