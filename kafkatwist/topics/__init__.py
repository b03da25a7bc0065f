"""Topics and partitions: the controller that writes them to the metadata log."""
