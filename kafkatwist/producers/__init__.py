"""Producers: producer id allocation and per-partition producer state (idempotence)."""
