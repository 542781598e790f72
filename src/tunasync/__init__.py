"""tunasync for Python: a drop-in for Go tunasync 0.10 with a verified Filecoin archive tier."""

__version__ = "0.1.0"
# The Go release whose behaviour, configs and wire format we follow.
GO_COMPAT_VERSION = "0.10.0"
