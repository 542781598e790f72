"""tunasync serve."""
