"""A throw-away single-node Slurm cluster on this machine, for tests and benchmarks.

:class:`LocalSlurm` starts ``munged`` (with its own key and socket), ``slurmctld`` and
``slurmd -N localhost`` as child processes of the calling process, each with its own
configuration, spool, state and log folders under one root folder, and stops exactly
those processes again. No systemd, no files outside the root folder. Clients (``sbatch``,
``squeue``, ``scancel``, ``sinfo``) find the cluster through the environment variable
``SLURM_CONF`` (see :attr:`LocalSlurm.env`).

It needs Debian's ``slurm-wlm`` and ``munge`` packages (``scripts/ci-slurm-install.sh``
installs them) and must run as the user the daemons run as (root in CI containers, or
any user: every daemon runs as the calling user).

Example
-------
>>> with LocalSlurm("/tmp/myslurm", cpus=4) as slurm:  # doctest: +SKIP
...     subprocess.run(["sinfo"], env={**os.environ, **slurm.env})
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from seisgrad.errors import SeisgradError

__all__ = ["LocalSlurm", "SlurmUnavailable", "missing_executables", "DAEMONS", "CLIENTS"]

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo")
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class SlurmUnavailable(SeisgradError):
    """The Slurm or munge executables are missing, or the local cluster did not start."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in _SBIN:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def missing_executables() -> list[str]:
    """Names of the daemons and clients a local cluster needs that are not installed."""
    return [n for n in (*DAEMONS, *CLIENTS) if _which(n) is None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalSlurm:
    """A single-node Slurm cluster (``localhost``) run from folder ``root``.

    Parameters
    ----------
    root
        Folder for the configuration, munge key and socket, spool, state and logs
        (created; should be private, e.g. a pytest ``tmp_path``).
    cpus
        CPUs the node declares (``SlurmdParameters=config_overrides`` lets it declare
        more than the machine has, so short test tasks can overlap).
    """

    def __init__(self, root: str | os.PathLike[str], cpus: int | None = None) -> None:
        self.root = Path(root).resolve()
        self.cpus = int(cpus or os.cpu_count() or 1)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.conf = self.root / "etc" / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"

    # -- configuration -----------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point Slurm clients at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def config_text(self, ctld_port: int, slurmd_port: int) -> str:
        """The ``slurm.conf`` of this cluster."""
        r = self.root
        user = getpass.getuser()
        return "\n".join(
            [
                "ClusterName=seisgradtest",
                "SlurmctldHost=localhost(127.0.0.1)",
                f"SlurmctldPort={ctld_port}",
                f"SlurmdPort={slurmd_port}",
                f"SlurmUser={user}",
                f"SlurmdUser={user}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={self.munge_socket}",
                f"StateSaveLocation={r / 'state'}",
                f"SlurmdSpoolDir={r / 'spool'}",
                f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
                f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
                f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
                "SlurmctldDebug=info",
                "SlurmdDebug=info",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "MpiDefault=pmi2",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "SchedulerType=sched/backfill",
                "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,"
                "sched_interval=2,bf_interval=1",
                "SlurmdParameters=config_overrides",
                "ReturnToService=2",
                "MinJobAge=30",
                "KillWait=2",
                "InactiveLimit=0",
                "MaxArraySize=10001",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} State=UNKNOWN",
                "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP "
                "OverSubscribe=NO",
                "",
            ]
        )

    def _prepare(self) -> None:
        for sub in ("etc", "munge", "state", "spool", "run", "log"):
            d = self.root / sub
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o700)
        self.root.chmod(0o700)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(1024))
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text(self.config_text(_free_port(), _free_port()))
        os.replace(tmp, self.conf)

    # -- processes ---------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]) -> None:
        exe = _which(name)
        if exe is None:
            raise SlurmUnavailable(f"{name} is not installed; run scripts/ci-slurm-install.sh")
        out = open(self.root / "log" / f"{name}.out", "ab")  # noqa: SIM115
        try:
            self.procs[name] = subprocess.Popen(
                [exe, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        finally:
            out.close()

    def _client(self, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        exe = _which(args[0]) or args[0]
        return subprocess.run(
            [exe, *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            check=False,
        )

    def _check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                log = self.root / "log"
                raise SlurmUnavailable(
                    f"local Slurm: {name} exited with status {p.returncode}; see {log}"
                )

    def start(self, timeout: float = 60.0) -> LocalSlurm:
        """Start the daemons and wait until ``sinfo`` shows the node idle."""
        missing = missing_executables()
        if missing:
            raise SlurmUnavailable(
                "local Slurm needs " + ", ".join(missing) + "; run scripts/ci-slurm-install.sh"
            )
        self._prepare()
        m = self.root / "munge"
        try:
            self._spawn(
                "munged",
                [
                    "--foreground",
                    "--force",
                    f"--socket={self.munge_socket}",
                    f"--key-file={m / 'munge.key'}",
                    f"--pid-file={m / 'munged.pid'}",
                    f"--log-file={self.root / 'log' / 'munged.log'}",
                    f"--seed-file={m / 'munged.seed'}",
                ],
            )
            self._wait(lambda: self.munge_socket.exists(), timeout, "munged socket")
            self._spawn("slurmctld", ["-D", "-i", "-f", str(self.conf)])
            self._wait(lambda: self._client("sinfo", "-h").returncode == 0, timeout, "slurmctld")
            self._spawn("slurmd", ["-D", "-N", "localhost", "-f", str(self.conf)])
            self._wait(self._node_idle, timeout, "node 'localhost' idle in sinfo")
        except BaseException:
            self.stop()
            raise
        return self

    def _node_idle(self) -> bool:
        r = self._client("sinfo", "-h", "-N", "-o", "%N %t")
        return r.returncode == 0 and any(
            line.split()[1:2] == ["idle"] for line in r.stdout.splitlines()
        )

    def _wait(self, ok: object, timeout: float, what: str) -> None:
        t0 = time.monotonic()
        while True:
            self._check_alive()
            try:
                if ok():  # type: ignore[operator]
                    return
            except (subprocess.TimeoutExpired, OSError):
                pass
            if time.monotonic() - t0 > timeout:
                raise SlurmUnavailable(
                    f"local Slurm: timed out after {timeout:.0f} s waiting for {what}; "
                    f"see {self.root / 'log'}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """Cancel remaining jobs, then stop exactly the daemons this object started."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self._client("scancel", "--full", "-u", getpass.getuser(), timeout=5)
            except (subprocess.TimeoutExpired, OSError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.pop(name, None)
            if p is None or p.poll() is not None:
                continue
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
