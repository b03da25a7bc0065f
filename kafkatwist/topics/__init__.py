"""Topics and partitions: the controller that writes them to the metadata log, and the partition logs."""
