"""tunasync manager."""
