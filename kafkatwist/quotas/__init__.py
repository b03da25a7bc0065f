"""Client quotas: entities and keys, windowed rates, throttling (KIP-13, KIP-124, KIP-219)."""
