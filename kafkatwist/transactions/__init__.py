"""The transaction coordinator: ``__transaction_state``, transactions and their markers (KIP-98)."""
