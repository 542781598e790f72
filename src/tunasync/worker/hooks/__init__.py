"""Job hooks (docs/compat.md §7), one file each: loglimit, exec_post, cgroup, docker, zfs, btrfs, archive."""
