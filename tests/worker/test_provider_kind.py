"""Provider kinds: one enum (tunasync/providerkind.py), one registry of builders; a kind outside the
enum is a ConfigError naming the file and the key wherever it is met (the loader, the provider builder,
the archive's view of a mirror), never a mirror silently run or archived as rsync."""

from __future__ import annotations

import pytest

from tunasync.archive.settings import MirrorArchive, mirror_archive
from tunasync.errors import ConfigError
from tunasync.providerkind import ProviderKind
from tunasync.worker.archive_setup import mirror_spec
from tunasync.worker.config import load_worker_config
from tunasync.worker.config_models import MirrorConfig, WorkerConfig
from tunasync.worker.providers.build import BUILDERS, build_provider
from tunasync.worker.providers.command import CommandProvider
from tunasync.worker.providers.rsync import RsyncProvider
from tunasync.worker.providers.two_stage import TwoStageRsyncProvider


def archive_view(cfg: WorkerConfig, m: MirrorConfig) -> MirrorArchive:
    """The archive's view of a mirror, as the worker hands it over (worker/archive_setup.py)."""
    return mirror_archive(cfg.archive, mirror_spec(cfg, m), cfg.path)


CONF = """
[global]
name = "w"
log_dir = "{tmp}/log/{{{{.Name}}}}"
mirror_dir = "{tmp}/mirrors"
concurrent = 2
interval = 60

[manager]
api_base = "http://127.0.0.1:1"

[archive]
network = "devnet"
index_dir = "{tmp}/archive"

[[mirrors]]
name = "one"
provider = "command"
command = "true"
archive = true

[[mirrors]]
name = "two"
provider = "rsync"
upstream = "rsync://example.org/two/"
archive = true
"""


def load(tmp_path):
    path = tmp_path / "worker.conf"
    path.write_text(CONF.format(tmp=tmp_path))
    return path, load_worker_config(path)


def test_every_kind_has_a_builder_and_go_number():
    assert set(BUILDERS) == set(ProviderKind)
    # Go's providerEnum order: provRsync, provTwoStageRsync, provCommand ({{.Provider}} in templates)
    assert [k.go_value for k in (ProviderKind.RSYNC, ProviderKind.TWO_STAGE_RSYNC, ProviderKind.COMMAND)] == [0, 1, 2]


def test_each_kind_builds_its_own_provider(tmp_path):
    path, cfg = load(tmp_path)
    assert isinstance(build_provider(cfg.mirrors[0], cfg), CommandProvider)
    assert isinstance(build_provider(cfg.mirrors[1], cfg), RsyncProvider)
    cfg.mirrors[1].provider = "two-stage-rsync"
    cfg.mirrors[1].stage1_profile = "debian"
    assert isinstance(build_provider(cfg.mirrors[1], cfg), TwoStageRsyncProvider)
    assert archive_view(cfg, cfg.mirrors[0]).upstream == ""  # a command's upstream is nothing rsync lists
    assert archive_view(cfg, cfg.mirrors[1]).provider is ProviderKind.TWO_STAGE_RSYNC


def test_an_unknown_kind_in_the_file_names_file_and_key(tmp_path):
    path = tmp_path / "worker.conf"
    path.write_text(CONF.format(tmp=tmp_path).replace('provider = "rsync"', 'provider = "ftp"'))
    with pytest.raises(ConfigError) as err:
        load_worker_config(path)
    assert (err.value.file, err.value.key) == (str(path), "mirrors[1].provider")
    assert "'ftp'" in err.value.reason


@pytest.mark.parametrize("build", [build_provider, archive_view], ids=["worker", "archive"])
def test_an_unknown_kind_that_got_past_the_loader_is_still_refused(tmp_path, build):
    """A mirror changed after loading (a reload, code building configs) with a kind no builder knows:
    refused with the file and key, not run or archived as rsync."""
    path, cfg = load(tmp_path)
    m = cfg.mirrors[1]
    m.provider = "ftp"  # assignment is not validated: only the builders stand between this and a run
    with pytest.raises(ConfigError) as err:
        build_provider(m, cfg) if build is build_provider else archive_view(cfg, m)
    assert (err.value.file, err.value.key) == (str(path), "mirrors[1].provider")
    assert "'ftp'" in err.value.reason and "rsync, two-stage-rsync, command" in err.value.reason
