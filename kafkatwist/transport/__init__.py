"""Transport: framing (protocol), dispatch, the twistd service and its options (tap)."""
