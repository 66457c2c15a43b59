"""Scoped API tokens (hashes only) and the audit log of calls made with them."""
