"""Command-line entry points: `tunasync` (daemons and tools) and `tunasynctl` (manager client)."""
