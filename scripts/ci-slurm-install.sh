#!/usr/bin/env bash
# Install a local Slurm (slurm-wlm) and munge for the system tests, when missing.
#
# Idempotent and non-interactive: does nothing when slurmctld, slurmd, sbatch and munged
# are already on PATH. The daemons are NOT started here (no systemd is needed): the
# pytest fixture in tests/system/conftest.py starts them with its own configuration
# under a temporary folder and stops exactly those processes afterwards.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
need=0
for exe in slurmctld slurmd sbatch squeue scancel sinfo munged; do
    if ! command -v "$exe" >/dev/null 2>&1; then
        need=1
    fi
done
if [ "$need" = 0 ]; then
    echo "ci-slurm-install: slurm-wlm and munge already installed"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
echo "ci-slurm-install: installing slurm-wlm and munge"
# policy-rc.d keeps the packages' maintainer scripts from starting services.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
fi
cleanup() {
    if [ "$created_policy" = 1 ]; then
        $SUDO rm -f "$policy"
    fi
}
trap cleanup EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    slurm-wlm munge >/dev/null
for exe in slurmctld slurmd sbatch squeue scancel sinfo munged; do
    command -v "$exe" >/dev/null 2>&1 || {
        echo "ci-slurm-install: $exe still missing after install" >&2
        exit 1
    }
done
echo "ci-slurm-install: done ($(dpkg-query -W -f="${Version}" slurm-wlm 2>/dev/null || echo "?"))"
