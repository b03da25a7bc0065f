"""Configuration: server.properties, Kafka's broker and topic config keys, and their layers."""
