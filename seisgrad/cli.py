"""The ``seisgrad`` command line.

Every command works on a parameter file (``-p``, default ``parameters.yaml`` in the
current folder). A user error prints one line, ``error: ...``, and exits with status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seisgrad import __version__
from seisgrad.errors import ConfigError, SeisgradError, StateError, error_line

__all__ = ["main", "build_parser"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_OS_ERROR = 1  # the system refused (disk full, permissions), not the user's input
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a command killed by a closed pipe


def _add_pfile(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p",
        "--parameter-file",
        default="parameters.yaml",
        help="parameter file (default: parameters.yaml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seisgrad",
        description="Seismic adjoint gradients and waveform-imaging workflows.",
    )
    parser.add_argument("--version", action="version", version=f"seisgrad {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("setup", help="write a minimal parameter file naming the modules")
    _add_pfile(p)
    for kind, default in (
        ("workflow", "migration"),
        ("system", "workstation"),
        ("solver", "fd2d"),
        ("preprocess", "default"),
    ):
        p.add_argument(f"--{kind}", default=default, help=f"{kind} module (default {default})")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    p = sub.add_parser(
        "configure", help="list every parameter of the chosen modules, with docs, in the file"
    )
    _add_pfile(p)

    p = sub.add_parser(
        "par", help="show or set one parameter, or one field of it: receivers.n (comments kept)"
    )
    _add_pfile(p)
    p.add_argument("key")
    p.add_argument("value", nargs="?", help="new value (YAML); leave out to show")

    p = sub.add_parser("check", help="validate parameters and inputs without running")
    _add_pfile(p)

    p = sub.add_parser("submit", help="run (or resume) the workflow")
    _add_pfile(p)
    p.add_argument("--stop-after", metavar="TASK", help="stop after this task")
    p.add_argument("--restart", action="store_true", help="forget recorded state and start over")

    p = sub.add_parser("status", help="show each task's state (and each source's)")
    _add_pfile(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("clean", help="remove scratch, state and logs (output with --output)")
    _add_pfile(p)
    p.add_argument("--output", action="store_true", help="also remove the output folder")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = sub.add_parser("print", help="print tasks, modules or parameters")
    _add_pfile(p)
    p.add_argument("what", choices=("tasks", "modules", "parameters"))

    p = sub.add_parser("plot", help="plot a model, kernel, gradient or traces to PNG")
    _add_pfile(p)
    p.add_argument("what", choices=("model", "kernel", "gradient", "traces"))
    p.add_argument("path", help="HDF5 model/kernel/gradient file, or an event name for traces")
    p.add_argument("-o", "--out", help="PNG file (default: next to the input)")
    p.add_argument(
        "--clip",
        type=float,
        default=None,
        help="percentile of |values| for the colour scale (default: 100 for a model, the "
        "run's plot_clip or 99 for a kernel or gradient)",
    )

    # internal (a System's worker runs one source): no help, so not listed in --help
    p = sub.add_parser("run-source")
    _add_pfile(p)
    p.add_argument("--task", required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--rank", type=int, default=0)
    p.add_argument("--job-id", default=None)
    return parser


# --------------------------------------------------------------------------- commands
def cmd_setup(args: argparse.Namespace) -> int:
    from seisgrad.parfile import render_minimal, write_text_atomic

    path = Path(args.parameter_file)
    if path.exists() and not args.force:
        raise ConfigError(f"{path} exists; use 'seisgrad configure' to expand it or --force")
    modules = {k: getattr(args, k) for k in ("workflow", "system", "solver", "preprocess")}
    write_text_atomic(path, render_minimal(modules))
    print(f"wrote {path}; next: 'seisgrad configure' lists every parameter")
    return 0


def cmd_configure(args: argparse.Namespace) -> int:
    from seisgrad.build import likely_typos, load_parameter_file, owners, unknown_key_error
    from seisgrad.parfile import (
        chosen_classes,
        kept_values,
        leading_comments,
        render_full,
        write_text_atomic,
    )

    path = Path(args.parameter_file)
    raw = load_parameter_file(path)
    classes = chosen_classes(raw)
    typos = likely_typos(list(raw), classes)
    if typos:  # keep the file as it is: a typo kept as a comment would be lost silently
        raise unknown_key_error(typos[0], classes, list(owners(classes)))
    # values kept as comments by an earlier configure come back when a module that
    # takes them is chosen again (the file's own values win)
    original = path.read_text(encoding="utf-8-sig")
    kept = kept_values(original)
    restored = sorted(k for k in kept if k not in raw)
    text, unused = render_full({**{k: kept[k] for k in restored}, **raw})
    restored = [k for k in restored if k not in unused]
    write_text_atomic(path, leading_comments(original) + text)
    print(f"wrote {path} with every parameter of the chosen modules")
    if restored:
        print("restored from the comments: " + ", ".join(restored), file=sys.stderr)
    if unused:
        print(
            "kept as comments (not used by the chosen modules): " + ", ".join(unused),
            file=sys.stderr,
        )
    return 0


def _inline(value: Any) -> str:
    """``value`` as YAML on one line (``null``, ``true``, ``[1, 2]``)."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6)
    return text.strip().removesuffix("...").strip()


def cmd_par(args: argparse.Namespace) -> int:
    import yaml

    from seisgrad.parfile import get_value, set_value

    if args.value is None:
        value, is_set = get_value(args.parameter_file, args.key)
        text = yaml.safe_dump(value, default_flow_style=None, sort_keys=False).strip()
        text = text.removesuffix("...").strip()
        print(text if is_set else f"{text}  # default (not set in the file)")
        return 0
    change = set_value(args.parameter_file, args.key, args.value)
    if change.was_set:
        old = _inline(change.old)
    elif change.old is dataclasses.MISSING:
        old = "(not set)"
    else:
        old = f"{_inline(change.old)} (default)"
    print(f"{args.key}: {old} -> {_inline(change.new)}")
    if change.unused:
        print(
            f"note: with {args.key} '{change.new}', no chosen module takes these keys of "
            f"{args.parameter_file}: {', '.join(change.unused)}; run 'seisgrad configure' "
            "to keep them as comments and add the new module's parameters ('seisgrad "
            "check' refuses the file until then)",
            file=sys.stderr,
        )
    return 0


def _setup(args: argparse.Namespace) -> Any:
    from seisgrad.build import build_from_config

    return build_from_config(args.parameter_file)


def cmd_check(args: argparse.Namespace) -> int:
    setup = _setup(args)
    warnings = setup.workflow.check()
    setup.system.check()
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    wf = setup.workflow
    print(
        f"ok: {setup.raw['workflow']} workflow, {len(wf.events)} source(s), "
        f"{len(wf.receivers)} receiver(s); tasks: {', '.join(wf.task_names)}"
    )
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from seisgrad.logs import console

    console()
    from seisgrad.system.mpi import launcher_world

    comm = launcher_world()
    if comm is not None:
        return _submit_ranks(args, comm)
    # everything is validated before the lock (which creates the state folder): bad
    # input leaves the working folder as it was
    setup = _setup(args)
    wf = setup.workflow
    warnings = wf.check()
    busy = setup.system.busy(wf)  # before anything changes (--restart deletes)
    if busy is not None:
        raise StateError(busy)
    with wf.state.run_lock():
        if not args.restart:
            pfile = Path(args.parameter_file).resolve()
            if setup.system.launch(pfile, wf.path.logs, args.stop_after):
                return 0
        if args.restart:
            _remove_state(wf)
        for w in warnings:
            logging.getLogger("seisgrad").warning("warning: %s", w)
        setup.system.submit(wf, stop_after=args.stop_after)
    return 0


def _submit_ranks(args: argparse.Namespace, comm: Any) -> int:
    """``mpiexec -n N seisgrad submit``: every rank builds and checks the setup, rank 0
    takes the run lock and (``--restart``) removes the old state, then all ranks agree
    before any work: an error on one rank (a refused lock, a bad setup) stops them all,
    reported once by rank 0, instead of leaving the others waiting for ever."""
    from seisgrad.system.mpi import MPI, agree

    rank = comm.Get_rank()
    lock = None
    error: BaseException | None = None
    warnings: list[str] = []
    try:
        setup = _setup(args)
        wf = setup.workflow
        if not isinstance(setup.system, MPI):
            raise ConfigError(
                f"'seisgrad submit' runs under an MPI launcher with {comm.Get_size()} ranks, "
                f"but the system is '{type(setup.system).__name__.lower()}': every rank "
                "would run the whole workflow. Set 'system: mpi', or run 'seisgrad submit' "
                "without mpiexec"
            )
        warnings = wf.check()
        if rank == 0:
            lock = wf.state.run_lock()
            lock.acquire()
            if args.restart:
                _remove_state(wf)
    except Exception as exc:  # any: a rank that skipped the agreement would hang the others
        error = exc
    try:
        if error is None or isinstance(error, (SeisgradError, OSError)):
            line = None if error is None else error_line(error)
        else:  # user code or a bug: its type says more than its message
            line = f"{type(error).__name__}: {error_line(error)}"
        failed = agree(comm, line)
        if error is not None:
            if rank == 0:
                if not isinstance(error, (SeisgradError, OSError)):
                    raise SeisgradError(f"rank 0: {line}") from error
                raise error
            return EXIT_USER_ERROR  # rank 0 reports it (or its own)
        if failed is not None:
            if rank == 0:
                raise SeisgradError(failed)
            return EXIT_USER_ERROR
        for w in warnings if rank == 0 else ():
            logging.getLogger("seisgrad").warning("warning: %s", w)
        setup.system.submit(wf, stop_after=args.stop_after)
    finally:
        if lock is not None:
            lock.release()
    return 0


def _remove_state(wf: Any) -> None:
    """``--restart``: the state and the scratch folder (one process only: under an MPI
    launcher, rank 0)."""
    from seisgrad.workflow.base import log_set_aside

    # the old results leave path_output first (the new run would mix with them)
    log_set_aside(wf, *wf.set_aside_results(wf.task_names))
    wf.state.clear()
    for p in (wf.path.scratch,):
        if p.exists():
            shutil.rmtree(p)


def cmd_status(args: argparse.Namespace) -> int:
    setup = _setup(args)
    rows = setup.workflow.status()
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    changes = setup.workflow.parameter_changes()
    reset: set[str] = set()
    rerun: dict[str, set[str]] = {}
    if changes is not None:
        if changes.unattributed:
            todo = "; 'seisgrad submit' refuses: restore them or add --restart"
        else:
            todo = " (when 'seisgrad submit' runs next)"
            reset = set(changes.reset)
            rerun = {t: set(v) for t, v in changes.rerun_events}
        print(changes.summary() + todo)
    pending = changes if changes is not None and not changes.unattributed else None
    gone = setup.workflow.missing_outputs(pending)
    lost = set(gone.reset)
    lost_sources = dict(gone.partial)
    again = "  (runs again: parameters changed)"
    for row in rows:
        line = f"{row['task']:<34} {row['status']}"
        if "sources" in row:
            counts: dict[str, int] = {}
            for info in row["sources"].values():
                counts[info["status"]] = counts.get(info["status"], 0) + 1
            line += "  (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"
        if row["task"] in reset and row["status"] == "done":
            line += again
        elif row["task"] in lost and row["status"] == "done":
            line += "  (runs again: its files are gone)"
        print(line)
        for name, info in row.get("sources", {}).items():
            if info["status"] != "pending":
                error = str(info.get("error") or "")
                # an interrupted source's error starts with "interrupted": not said twice
                if error.startswith(info["status"]):
                    error = error[len(info["status"]) :].strip()
                extra = f"  {error}" if error else ""
                if name in rerun.get(row["task"], ()):
                    extra += again
                elif name in lost_sources.get(row["task"], ()):
                    extra += "  (runs again: its files are gone)"
                print(f"    {name:<30} {info['status']}{extra}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from seisgrad.workflow.state import remove_path

    setup = _setup(args)
    wf = setup.workflow
    targets = [wf.path.scratch, wf.state.root, wf.path.logs]
    if args.output:
        targets.append(wf.path.output)
        if not args.yes:
            if not sys.stdin.isatty():
                raise ConfigError("clean --output removes results: pass --yes to confirm")
            answer = input(f"remove {wf.path.output} and all results? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing removed")
                return 1
    _check_clean_targets(wf, targets, bool(args.output))
    removed = []
    busy = setup.system.busy(wf)  # a Slurm main job queued or running
    if busy is not None:
        raise StateError(busy)
    # not while a submit runs in this folder (it holds the run lock; none runs without
    # the state folder, which the lock would create)
    lock = wf.state.run_lock() if wf.state.root.exists() else contextlib.nullcontext()
    with lock:
        for t in targets:
            if t.is_symlink() and not t.exists():  # a link to nothing: nothing to remove
                continue
            if t.is_symlink():  # a link to the folder elsewhere: empty what it points to
                for child in t.iterdir():
                    remove_path(child)
                removed.append(str(t))
            elif t.exists():
                shutil.rmtree(t)
                removed.append(str(t))
    print("removed: " + (", ".join(removed) if removed else "nothing"))
    return 0


def _check_clean_targets(wf: Any, targets: Sequence[Path], with_output: bool) -> None:
    """Refuse to remove a folder that holds the work folder itself, the parameter
    file or an input (``path_output: .`` would remove the whole run folder), or that
    lies inside an input folder (``path_output`` inside ``path_data``: its files are
    observed data)."""
    workdir = wf.path.workdir.resolve()
    keep = wf.input_files()
    output = wf.path.output.resolve()
    for t in targets:
        r = t.resolve()
        if not with_output and output.is_relative_to(r):
            raise ConfigError(
                f"clean: {t} holds path_output {output} (the results); it is not removed "
                "(nothing was): give path_output a folder of its own, or remove what you "
                "want by hand"
            )
        held = [p for p in keep if p.resolve().is_relative_to(r)]
        inside = [p for p in keep if r.is_relative_to(p.resolve())]
        if workdir.is_relative_to(r) or held or inside:
            if held:
                what = f"holds {held[0]}"
            elif inside:
                what = f"lies inside the input {inside[0]}"
            else:
                what = f"holds the work folder {workdir}"
            raise ConfigError(
                f"clean: {t} {what}; it is not removed (nothing was): remove what you "
                "want from it by hand, or give path_output/path_scratch folders of their own"
            )


def cmd_print(args: argparse.Namespace) -> int:
    from seisgrad.registry import KINDS, available

    if args.what == "modules":
        for kind in KINDS:
            for name, spec in sorted(available(kind).items()):
                print(f"{kind:<11} {name:<14} {spec}")
        return 0
    setup = _setup(args)
    if args.what == "tasks":
        from seisgrad.workflow.base import is_per_source

        for i, t in enumerate(setup.workflow.task_list, 1):
            kind = "per source" if is_per_source(t) else ""
            print(f"{i}. {t.__name__:<34} {kind:<10} {first_paragraph(t.__doc__)}")
        return 0
    from seisgrad.config import to_mapping

    for owner, obj in setup.params.items():
        print(f"# {owner}")
        for k, v in to_mapping(obj).items():
            print(f"{k}: {json.dumps(v)}")
    return 0


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring, joined into one line.

    Parameters
    ----------
    doc
        A docstring (or ``None``).

    Returns
    -------
    str
        Its lines up to the first blank line, as one line without reST's double
        backquotes (empty for none).
    """
    lines = []
    for line in (doc or "").strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines).replace("``", "")


def cmd_plot(args: argparse.Namespace) -> int:
    from seisgrad.workflow.plots import plot_command

    out = plot_command(args.parameter_file, args.what, args.path, args.out, args.clip)
    for p in out:
        print(f"wrote {p}")
    return 0


def cmd_run_source(args: argparse.Namespace) -> int:
    setup = _setup(args)
    setup.workflow.run_source(args.task, args.index, rank=args.rank, job_id=args.job_id)
    return 0


COMMANDS = {
    "setup": cmd_setup,
    "configure": cmd_configure,
    "par": cmd_par,
    "check": cmd_check,
    "submit": cmd_submit,
    "status": cmd_status,
    "clean": cmd_clean,
    "print": cmd_print,
    "plot": cmd_plot,
    "run-source": cmd_run_source,
}


def _quiet_stdout() -> None:
    """Point standard output at ``/dev/null`` (its reader has gone), so that Python's
    final flush does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - no file descriptor
        pass


#: Seconds after an interrupt at which it is raised again, in case the first was raised
#: inside a callback whose exceptions Python ignores (a weakref or garbage-collector
#: callback: "Exception ignored in ..."), where the run went on to the end.
INTERRUPT_AGAIN = 2.0

#: Set by the interrupt handler of ``submit``; cleared when the interrupt was handled.
_INTERRUPTED = {"pending": False}


def _terminate_as_interrupt() -> dict[int, Any]:
    """Make SIGINT (Ctrl-C) and SIGTERM (``kill``, a batch system ending a foreground
    submit) stop ``submit``: the running sources are marked interrupted and one line
    says how to resume (SIGTERM ended it with no message, exit status 143). An
    interrupt that lands in a callback whose exceptions Python ignores is raised again
    :data:`INTERRUPT_AGAIN` seconds later (SIGALRM) until the command has handled it.
    The MPI launcher installs its own handlers while it runs."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum: int, frame: object) -> None:
        _INTERRUPTED["pending"] = True
        signal.setitimer(signal.ITIMER_REAL, INTERRUPT_AGAIN)
        raise KeyboardInterrupt

    def again(signum: int, frame: object) -> None:
        if _INTERRUPTED["pending"]:
            signal.setitimer(signal.ITIMER_REAL, INTERRUPT_AGAIN)
            if isinstance(sys.exc_info()[1], KeyboardInterrupt):
                return  # being handled (the state recorded, a compilation stopped...)
            raise KeyboardInterrupt

    handlers = {signal.SIGINT: interrupt, signal.SIGTERM: interrupt, signal.SIGALRM: again}
    return {sig: signal.signal(sig, h) for sig, h in handlers.items()}


def _restore_handlers(old: dict[int, Any]) -> None:
    """Put back the signal handlers :func:`_terminate_as_interrupt` replaced (``main``
    may be called from Python: a notebook, a test)."""
    import signal

    _interrupt_handled()
    for sig, handler in old.items():
        signal.signal(sig, handler)


def _interrupt_handled() -> bool:
    """Stop raising an interrupt again; return whether one was received."""
    import signal

    pending = _INTERRUPTED["pending"]
    _INTERRUPTED["pending"] = False
    if pending:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
    return pending


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seisgrad`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    old_handlers = _terminate_as_interrupt() if args.command == "submit" else {}
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, so that a closed pipe is handled below
        if _interrupt_handled() and code == 0:
            # every raise of the interrupt was ignored (see INTERRUPT_AGAIN) and the
            # run finished: still say that it was interrupted
            raise KeyboardInterrupt
        return code
    except SeisgradError as exc:
        if args.debug:
            raise
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:  # (not raised again while handled: see again())
        if args.debug:
            raise
        if args.command == "submit":
            msg = "interrupted; finished work is kept, run 'seisgrad submit' to resume"
        else:
            msg = "interrupted"
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError as exc:  # the setup is too large for this machine: one line
        if args.debug:
            raise
        what = str(exc).strip() or "an allocation failed"
        print(
            f"error: not enough memory: {what}; reduce the grid, nt, the receivers or "
            "the number of checkpoints, or run on a larger machine",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # the reader of our output has gone (``seisgrad print parameters | head -1``)
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # disk full, read-only folder, ...: one line too
        if args.debug:
            raise
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return EXIT_OS_ERROR
    finally:
        _restore_handlers(old_handlers)  # and no interrupt raised again from now on


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
