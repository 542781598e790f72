"""Mirror providers: rsync, two-stage-rsync, command (one file each). `build_provider` lives in build.py."""
