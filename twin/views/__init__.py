"""What the dashboard pages and the notebook read from the store; nothing here writes."""
