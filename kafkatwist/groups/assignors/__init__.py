"""Server-side assignors of the consumer group protocol (KIP-848): their interface in L{spec}."""
