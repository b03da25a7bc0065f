"""Security: principals, sessions, ACLs and the authorizer (TLS and SASL build on them)."""
