"""HTTP route modules of the manager; each exposes `setup(app)`."""
