"""Jobs that read the store and write derived series, and the history loading record."""
