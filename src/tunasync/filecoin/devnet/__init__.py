"""tunasync filecoin/devnet."""
