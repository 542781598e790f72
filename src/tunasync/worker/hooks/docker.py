"""The docker hook (docs/compat.md §7.4): the job runs in `docker run --rm ... <image> <argv>`.

pre-exec creates the working dir and pushes a context layer with the runtime volumes (log dir, the
time-stamped log file, working dir). The runner then starts the docker CLI instead of the program
(`prepare_exec`): the CLI gets the worker's env and cwd, the provider env travels as `-e K=V` (the
host environment is not passed in), output goes to the job log. Terminate is
`docker stop -t 2 tunasync-job-<name>`. post-exec waits up to 10 s for the container to be gone,
warns if it is not, and pops the layer; it never fails.
Tests run it against a stand-in `docker` executable first on PATH (no docker daemon on the test host).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from typing import TYPE_CHECKING

from ...childenv import child_env
from ..config_models import DockerConfig, MirrorConfig
from ..providers.process import ARCHIVE_COMPARE_DEST_KEY, ARCHIVE_EXCLUDE_KEY
from .base import HookError, JobHook

if TYPE_CHECKING:
    from ..providers.base import Provider
    from ..runner import ProcessSpec

log = logging.getLogger(__name__)


class DockerHook(JobHook):
    def __init__(self, provider: Provider, docker: DockerConfig, mirror: MirrorConfig, poll_interval: float = 1.0):
        super().__init__(provider)
        self.image = mirror.docker_image
        self.volumes = list(docker.volumes) + list(mirror.docker_volumes)
        if mirror.exclude_file:
            self.volumes.append(f"{mirror.exclude_file}:{mirror.exclude_file}:ro")
        self.options = list(docker.options) + list(mirror.docker_options)
        self.memory_limit = mirror.memory_limit
        self.poll_interval = poll_interval

    @property
    def container(self) -> str:
        return f"tunasync-job-{self.provider.name}"

    async def pre_exec(self) -> None:
        p = self.provider
        try:
            os.makedirs(p.working_dir, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise HookError(f"cannot create working dir {p.working_dir}: {exc.strerror or exc}") from None
        log_dir, log_file, wd = p.log_dir, p.log_file, p.working_dir
        p.context.enter()
        p.context.set("volumes", [f"{log_dir}:{log_dir}", f"{log_file}:{log_file}", f"{wd}:{wd}"])

    def run_argv(self, argv: list[str], env: dict[str, str]) -> list[str]:
        p = self.provider
        args = ["docker", "run", "--rm", "-a", "STDOUT", "-a", "STDERR", "--name", self.container,
                "-w", p.working_dir, "-u", f"{os.getuid()}:{os.getgid()}"]
        for vol in self.volumes + list(p.context.get("volumes", [])):
            args += ["-v", vol]
        for key in (ARCHIVE_EXCLUDE_KEY, ARCHIVE_COMPARE_DEST_KEY):  # the archive tier's rules and shadow tree
            path = p.context.get(key)
            if path:
                args += ["-v", f"{path}:{path}:ro"]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        if self.memory_limit:
            args += ["-m", str(self.memory_limit)]
        return args + self.options + [self.image] + list(argv)

    def prepare_exec(self, spec: ProcessSpec) -> None:
        spec.argv = self.run_argv(spec.argv, spec.env)
        spec.env = {}
        spec.cwd = None
        spec.stop_argv = ["docker", "stop", "-t", "2", self.container]

    async def _exists(self) -> bool:
        try:
            proc = await asyncio.create_subprocess_exec(
                "docker", "ps", "-a", "--filter", f"name=^{self.container}$", "--format", "{{.Status}}",
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env())
        except OSError:
            return False
        out, _ = await proc.communicate()
        return bool(out.strip())

    async def post_exec(self) -> None:
        for _ in range(10):
            if not await self._exists():
                break
            await asyncio.sleep(self.poll_interval)
        else:
            log.warning("container %s still exists after the job", self.container)
        if self.provider.context.depth > 1:
            self.provider.context.exit()
