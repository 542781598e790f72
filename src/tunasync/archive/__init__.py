"""tunasync archive."""
