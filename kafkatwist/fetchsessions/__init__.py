"""Incremental fetch sessions (KIP-227): the session cache and what a Fetch request means for it."""
