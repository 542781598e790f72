"""tunasync filecoin."""
