"""Helpers shared by the test suites (servers to test against, not tests)."""
