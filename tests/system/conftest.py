"""Fixtures of the system tests: a real single-node Slurm on localhost.

The ``slurm`` fixture starts ``munged``, ``slurmctld`` and ``slurmd`` (each with its own
configuration, key, socket, spool and state under a temporary folder), waits until
``sinfo`` shows the node idle, and at the end stops exactly those processes. When the
Slurm packages are missing the tests FAIL (they are never skipped silently): CI installs
them with ``scripts/ci-slurm-install.sh``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from seisgrad.system._localslurm import LocalSlurm, missing_executables


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    missing = missing_executables()
    if missing:
        pytest.fail(
            "the Slurm tests need " + ", ".join(missing) + ": run scripts/ci-slurm-install.sh "
            "(apt-get installs slurm-wlm and munge)",
            pytrace=False,
        )
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), cpus=4)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def slurm_env(slurm: LocalSlurm, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point Slurm clients of this process (and its children) at the local cluster."""
    for key, value in slurm.env.items():
        monkeypatch.setenv(key, value)
    return dict(slurm.env)
