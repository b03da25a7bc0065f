"""The brokers of a cluster, who leads what, and the leadership changes services follow."""
