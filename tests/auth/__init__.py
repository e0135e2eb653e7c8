"""Trusted issuers and other token verification."""
