"""Topics and partitions: the controller writing them to the metadata log, and their logs."""
