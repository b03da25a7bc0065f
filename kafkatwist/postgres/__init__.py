"""The PostgreSQL storage engine: several brokers as one cluster over one database (issue 17)."""
