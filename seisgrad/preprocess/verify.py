"""Checks that adjoint sources and processing adjoints are exact.

* :func:`check_adjoint_source` compares the adjoint source with finite differences of
  the reported misfit with respect to the raw synthetic samples, through the whole
  processing, along random directions and sample by sample. Run it on your own data
  and setup: a relative error near 1e-8 (float64) means the adjoint source is the exact
  derivative of the misfit you see.
* :func:`dot_product_test` checks :math:`\\langle L x, y\\rangle = \\langle x, L^T y\\rangle`
  for a linear processing step.
* :func:`check_step_vjp` checks the adjoint (vector-Jacobian product) of any step,
  linear or not, by finite differences.

Finite differences use the fourth-order central formula

.. math:: J'(x)\\,v \\approx \\frac{8[J(x+hv) - J(x-hv)] - [J(x+2hv) - J(x-2hv)]}{12h}

for several step sizes :math:`h` (relative to the largest synthetic sample); the error
reported for a direction is the smallest over the step sizes (too large a step shows
truncation error, too small a step round-off). Where no default step agrees within the
tolerance, smaller steps (down to 1e-9) are tried before the comparison fails: a
correct adjoint source agrees at some step, a wrong one at none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from seisgrad.errors import DataError, GradientError
from seisgrad.preprocess.base import Preprocess
from seisgrad.preprocess.misfit import Misfit
from seisgrad.preprocess.pipeline import Pipeline
from seisgrad.preprocess.processing import Chain, LinearStep, Step, TraceContext
from seisgrad.solver.acquisition import Event

if TYPE_CHECKING:
    from obspy import Stream

    from seisgrad.solver.acquisition import Receiver

__all__ = [
    "AdjointCheck",
    "check_adjoint_source",
    "check_gradient",
    "dot_product_test",
    "check_step_vjp",
]

DEFAULT_STEPS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
#: Differences of directional derivatives below this times ``|J|`` count as exact: the
#: round-off of a finite difference of J in float64 is larger (about 3e-14 |J| at the
#: largest step).
ROUNDOFF = 100 * float(np.finfo(np.float64).eps)

#: Smaller steps, tried for a comparison that none of ``steps`` brings within ``rtol``
#: (misfits that vary on a small scale, e.g. near a small envelope, need them).
FALLBACK_STEPS = (3e-7, 1e-7, 3e-8, 1e-8, 3e-9, 1e-9)


@dataclass
class AdjointCheck:
    """Outcome of a finite-difference check.

    Attributes
    ----------
    value
        Misfit at the unperturbed synthetics.
    directions
        Per random direction: ``{"adjoint": <f, v>, "fd": best FD value, "h": best
        step, "error": relative error}``.
    samples
        Per checked sample: ``{"trace": i, "sample": n, "adjoint": f_n, "fd": FD,
        "error": |FD - f_n| / max|f|}``.
    rtol
        Tolerance used by :attr:`passed`.
    not_checked
        Traces left unperturbed, with why: those whose measurement was skipped at the
        unperturbed synthetics (round-off, no correlation, ...). A skip is a threshold,
        not a smooth function: finite differences across it measure the threshold.
    """

    value: float
    directions: list[dict[str, float]] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)
    rtol: float = 1e-6
    not_checked: dict[str, str] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        """Largest relative error over directions and samples."""
        errs = [d["error"] for d in self.directions] + [s["error"] for s in self.samples]
        return max(errs) if errs else 0.0

    @property
    def passed(self) -> bool:
        return self.max_error <= self.rtol

    def raise_if_failed(self) -> None:
        """Raise :class:`~seisgrad.errors.GradientError` when the check failed."""
        if not self.passed:
            raise GradientError(
                f"adjoint source does not match finite differences: max relative error "
                f"{self.max_error:.3e} > {self.rtol:g}\n" + self.summary()
            )

    def summary(self) -> str:
        lines = [f"misfit {self.value!r}; max relative error {self.max_error:.3e}"]
        for i, d in enumerate(self.directions):
            lines.append(
                f"  direction {i}: <f,v> = {d['adjoint']:.15e}  FD = {d['fd']:.15e}  "
                f"(h = {d['h']:.0e})  error {d['error']:.2e}"
            )
        for s in self.samples:
            lines.append(
                f"  trace {s['trace']} sample {s['sample']}: f = {s['adjoint']:.15e}  "
                f"FD = {s['fd']:.15e}  error {s['error']:.2e}"
            )
        for name, why in self.not_checked.items():
            lines.append(f"  {name}: not checked (its measurement was skipped: {why})")
        return "\n".join(lines)


def _fd(func: Callable[[np.ndarray], float], x: np.ndarray, v: np.ndarray, h: float) -> float:
    jp1, jm1 = func(x + h * v), func(x - h * v)
    jp2, jm2 = func(x + 2 * h * v), func(x - 2 * h * v)
    return (8.0 * (jp1 - jm1) - (jp2 - jm2)) / (12.0 * h)


def _rel(a: float, b: float, scale: float, atol: float = 0.0) -> float:
    if abs(a - b) <= atol:
        return 0.0
    den = max(abs(a), abs(b), scale)
    return 0.0 if den == 0.0 else abs(a - b) / den


def _row_peaks(a: np.ndarray) -> np.ndarray:
    """Largest ``|entry|`` of each trace (row of a 2-D ``a``; of the whole array
    otherwise), shaped to broadcast against ``a``."""
    if a.ndim < 2:
        return np.asarray(float(np.max(np.abs(a), initial=0.0)))
    peaks = np.max(np.abs(a.reshape(a.shape[0], -1)), axis=1)
    return peaks.reshape((a.shape[0],) + (1,) * (a.ndim - 1))


def _row_scales(x: np.ndarray) -> np.ndarray:
    """Step scale of each trace (:func:`_row_peaks`), so that every trace is perturbed
    relative to its own size. A stream mixes units (pressure is about ``1e6`` times
    particle velocity): one scale for all made steps larger than whole velocity traces,
    and nonlinear misfits failed for a right adjoint source. An all-zero trace takes the
    smallest scale of the others (1 when every trace is zero)."""
    peaks = _row_peaks(x)
    positive = peaks[peaks > 0]
    fill = float(positive.min()) if positive.size else 1.0
    return np.where(peaks > 0, peaks, fill)


def _per_row_unit(v: np.ndarray) -> np.ndarray:
    """``v`` with the largest ``|entry|`` of each trace (:func:`_row_peaks`) 1; all-zero
    traces stay zero."""
    peaks = _row_peaks(v)
    return v / np.where(peaks > 0, peaks, 1.0)


def _best_step(
    compare: Callable[[float], dict[str, float]],
    steps: Sequence[float],
    fallback: Sequence[float],
    rtol: float,
) -> dict[str, float]:
    """The comparison (``compare(h)``, a dict with ``"error"``) with the smallest error
    over ``steps``, then over ``fallback`` steps while that error exceeds ``rtol``."""
    best: dict[str, float] | None = None
    for k, h in enumerate((*steps, *fallback)):
        if k >= len(steps) and best is not None and best["error"] <= rtol:
            break
        cmp = compare(h)
        if best is None or cmp["error"] < best["error"]:
            best = cmp
    if best is None:
        raise DataError("finite-difference checks need at least one step size")
    return best


def _quiet(func: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
    """``func`` with seisgrad's log records below ERROR dropped while it runs: a check
    evaluates the misfit dozens of times, and each evaluation repeated the same
    warnings (skipped measurements) once more."""
    import logging

    from seisgrad.logs import logger

    def quiet(x: np.ndarray) -> float:
        old = logger.level
        logger.setLevel(logging.ERROR)
        try:
            return func(x)
        finally:
            logger.setLevel(old)

    return quiet


def check_gradient(
    func: Callable[[np.ndarray], float],
    x: np.ndarray,
    gradient: np.ndarray,
    *,
    value: float | None = None,
    n_directions: int = 3,
    n_samples: int = 6,
    steps: Sequence[float] = DEFAULT_STEPS,
    rtol: float = 1e-6,
    atol: float = 0.0,
    seed: int = 0,
    fallback_steps: Sequence[float] = FALLBACK_STEPS,
    fixed_rows: Sequence[int] = (),
) -> AdjointCheck:
    """Finite-difference check of ``gradient`` = :math:`\\nabla` ``func`` at ``x``.

    Directions: the gradient itself, then random normal directions; each trace (row of
    a 2-D ``x``) of each is scaled so its largest entry equals that trace's largest
    ``|x|`` (:func:`_row_scales`: traces of different units, pressure and velocity, are
    each perturbed relative to their own size). Samples: the largest ``|gradient|``
    entry, then random entries, each perturbed by its trace's scale; their error is
    relative to the largest ``|gradient|`` times its trace's scale.
    A comparison whose absolute difference is at most ``atol``, or at most
    :data:`ROUNDOFF` (2.2e-14) times ``|func(x)|`` (below what finite differences can
    resolve), counts as exact (for checks at a stationary point, where the derivative
    and its estimate are both round-off). Each comparison keeps its best step among
    ``steps`` (relative to each trace's largest ``|x|``); one that no step brings within
    ``rtol``
    also tries
    ``fallback_steps`` (smaller ones, for functions that vary on a small scale: the
    fourth-order estimate converges to the true derivative, so a wrong gradient still
    fails). ``fixed_rows``: traces (rows of a 2-D ``x``) left unperturbed and unsampled.
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(gradient, dtype=np.float64)
    if g.shape != x.shape:
        raise DataError(f"gradient shape {g.shape} differs from the input shape {x.shape}")
    free = np.ones(x.shape[:1] if x.ndim > 1 else (1,), dtype=bool)
    free[list(fixed_rows)] = False  # traces (rows) left unperturbed
    if not free.any():
        raise DataError("every trace is left out of the check (fixed_rows): nothing to check")
    mask = free.reshape((-1,) + (1,) * (x.ndim - 1)) if x.ndim > 1 else free[0]
    func = _quiet(func)
    rng = np.random.default_rng([seed, 0x5E15])  # independent of the caller's streams
    scale = _row_scales(x)  # broadcasts against x: one step scale per trace
    gmax = float(np.max(np.abs(g)))
    gscaled = float(np.max(np.abs(g * scale)))
    tiny = 1e-300
    result = AdjointCheck(value=float(func(x)) if value is None else value, rtol=rtol)
    # differences that finite differences of J cannot resolve in float64 (both sides
    # round-off, e.g. at a stationary point) count as exact
    atol = max(atol, ROUNDOFF * abs(result.value))
    dirs = []
    if gmax > 0:
        dirs.append(_per_row_unit(g))
    while len(dirs) < n_directions:
        dirs.append(_per_row_unit(rng.standard_normal(x.shape)))
    for v in dirs[:n_directions]:
        v = v * scale * mask
        ad = float(np.sum(g * v))

        def along(h: float, v: np.ndarray = v, ad: float = ad) -> dict[str, float]:
            fd = _fd(func, x, v, h)
            return {"adjoint": ad, "fd": fd, "h": h, "error": _rel(fd, ad, tiny, atol)}

        result.directions.append(_best_step(along, steps, fallback_steps, rtol))
    flat = np.abs(g * mask).ravel()
    allowed = np.flatnonzero(np.broadcast_to(mask, x.shape).ravel())
    picks = [int(np.argmax(flat))] if flat.max(initial=0.0) > 0 else []
    while len(picks) < min(n_samples, allowed.size):
        k = int(allowed[rng.integers(allowed.size)])
        if k not in picks:
            picks.append(k)
    for k in picks[:n_samples]:
        idx = np.unravel_index(k, x.shape)
        e = np.zeros_like(x)
        step = float(np.broadcast_to(scale, x.shape)[idx])
        e[idx] = step
        ad = float(g[idx]) * step

        def at_sample(
            h: float, e: np.ndarray = e, ad: float = ad, step: float = step
        ) -> dict[str, float]:
            fd = _fd(func, x, e, h)
            if gmax > 0:
                err = _rel(fd, ad, gscaled + tiny, atol)
            else:
                err = 0.0 if abs(fd) <= atol else abs(fd)
            return {"fd": fd / step, "error": err}

        best = _best_step(at_sample, steps, fallback_steps, rtol)
        trace = int(idx[0]) if x.ndim > 1 else 0
        result.samples.append(
            {"trace": trace, "sample": int(idx[-1]), "adjoint": float(g[idx]), **best}  # type: ignore[dict-item]
        )
    return result


def check_adjoint_source(
    preprocess_or_chain: Preprocess | Pipeline | Chain | Sequence[Step] | None,
    misfit: Misfit | str | None = None,
    observed: Stream | np.ndarray | None = None,
    synthetic: Stream | np.ndarray | None = None,
    *,
    event: Event | None = None,
    receivers: Sequence[Receiver] | None = None,
    dt: float | None = None,
    t0: float = 0.0,
    context: TraceContext | None = None,
    windows: Any = None,
    weights_function: Any = None,
    n_directions: int = 3,
    n_samples: int = 6,
    steps: Sequence[float] = DEFAULT_STEPS,
    rtol: float = 1e-6,
    atol: float = 0.0,
    seed: int = 0,
    fallback_steps: Sequence[float] = FALLBACK_STEPS,
) -> AdjointCheck:
    """Check that the adjoint source is the derivative of the reported misfit.

    Parameters
    ----------
    preprocess_or_chain
        A :class:`~seisgrad.preprocess.base.Preprocess` (e.g. ``Default``; then
        ``observed`` and ``synthetic`` are Streams and ``event``/``receivers`` are used
        as in :meth:`~seisgrad.preprocess.base.Preprocess.evaluate` (``event`` may be
        left out when no step needs the sources), and the whole Stream-level evaluation
        is differentiated), a
        :class:`~seisgrad.preprocess.pipeline.Pipeline`, a
        :class:`~seisgrad.preprocess.processing.Chain` or list of steps (or ``None``:
        no processing).
    misfit
        Misfit (instance, class or name); required for a chain, optional otherwise (it
        replaces the misfit of the pipeline or of the preprocess).
    observed, synthetic
        Streams (any form) or arrays of shape ``(nt,)`` or ``(ntraces, nt)`` (give
        ``dt``, or a ``context``).
    windows, weights_function
        Measurement windows and weights hook (see
        :class:`~seisgrad.preprocess.pipeline.Pipeline`); for a pipeline or preprocess
        they replace its own.
    n_directions, n_samples, steps, rtol, atol, seed, fallback_steps
        See :func:`check_gradient`.

    Returns
    -------
    AdjointCheck
        ``result.passed`` tells whether the largest relative error is within ``rtol``;
        ``result.summary()`` lists the comparisons; ``result.raise_if_failed()``.
    """
    if observed is None or synthetic is None:
        raise DataError("check_adjoint_source needs observed and synthetic data")
    opts = dict(
        n_directions=n_directions,
        n_samples=n_samples,
        steps=steps,
        rtol=rtol,
        atol=atol,
        seed=seed,
        fallback_steps=fallback_steps,
    )
    if isinstance(preprocess_or_chain, Preprocess):
        pre = preprocess_or_chain
        if misfit is not None or windows is not None or weights_function is not None:
            pre = _with_pipeline_changes(pre, misfit, windows, weights_function)
        if event is None:
            event = Event(name="event", sources=[])
        return _check_preprocess(pre, observed, synthetic, event, receivers, **opts)
    if isinstance(preprocess_or_chain, Pipeline):
        pipeline = preprocess_or_chain
        if misfit is not None or windows is not None or weights_function is not None:
            pipeline = Pipeline(
                pipeline.chain,
                misfit if misfit is not None else pipeline.misfit,
                windows if windows is not None else pipeline.windows,
                weights_function if weights_function is not None else pipeline.hook,
            )
    else:
        if misfit is None:
            raise DataError("check_adjoint_source needs a misfit with a processing chain")
        pipeline = Pipeline(preprocess_or_chain, misfit, windows, weights_function)
    obs_arr, syn_arr, ctx, squeeze = _arrays(
        observed, synthetic, event, receivers, dt, t0, context
    )
    prepared = pipeline.prepare(obs_arr, ctx)
    res = pipeline.evaluate(None, syn_arr, ctx, prepared)

    def func(x: np.ndarray) -> float:
        return pipeline.value(x, ctx, prepared)

    skipped = _skipped({f"trace {i}": info for i, info in enumerate(res.info)})
    fixed = [int(name.split()[1]) for name in skipped]
    _refuse_all_skipped(skipped, len(res.info))
    out = check_gradient(  # type: ignore[arg-type]
        func, syn_arr, res.adjoint, value=res.value, fixed_rows=fixed, **opts
    )
    out.not_checked = skipped
    if squeeze:
        for s in out.samples:
            s["trace"] = 0
    return out


def _skipped(info: Mapping[str, Any]) -> dict[str, str]:
    """Per trace name, why its measurement was skipped (the first reason of its
    windows), for the traces with a skipped measurement (``info``: per trace, the list
    of each window's measurement info)."""
    out = {}
    for name, items in info.items():
        reasons = [
            str(i["skipped"]) for i in items or () if isinstance(i, Mapping) and i.get("skipped")
        ]
        if reasons:
            out[name] = reasons[0]
    return out


def _refuse_all_skipped(skipped: Mapping[str, str], ntraces: int) -> None:
    """A :class:`~seisgrad.errors.DataError` when every trace's measurement was skipped:
    the misfit is zero by a threshold there, and nothing can be checked."""
    if ntraces and len(skipped) >= ntraces:
        first, why = next(iter(skipped.items()))
        raise DataError(
            f"every measurement is skipped at these synthetics ({first}: {why}; "
            f"{len(skipped)} trace(s) in all): nothing to check; check traces whose "
            "windows hold signal (or, for round-off skips, set negligible: 0)"
        )


def _with_pipeline_changes(
    pre: Preprocess, misfit: Any, windows: Any, weights_function: Any
) -> Preprocess:
    """A copy of ``pre`` whose pipeline uses the given misfit, windows or weights."""
    import copy

    pipe = getattr(pre, "pipeline", None)
    if not isinstance(pipe, Pipeline):
        raise DataError(
            f"{type(pre).__name__} has no pipeline to change; pass misfit=None, "
            "windows=None and weights_function=None"
        )
    new = copy.copy(pre)
    new.pipeline = Pipeline(  # type: ignore[attr-defined]
        pipe.chain,
        misfit if misfit is not None else pipe.misfit,
        windows if windows is not None else pipe.windows,
        weights_function if weights_function is not None else pipe.hook,
    )
    return new


def _arrays(
    observed: Any,
    synthetic: Any,
    event: Event | None,
    receivers: Sequence[Receiver] | None,
    dt: float | None,
    t0: float,
    context: TraceContext | None,
) -> tuple[np.ndarray, np.ndarray, TraceContext, bool]:
    from obspy import Stream

    from seisgrad.preprocess.streams import context_for, match_traces, stack

    if isinstance(synthetic, Stream):
        syn_traces = list(synthetic)
        if not isinstance(observed, Stream):
            raise DataError("give observed and synthetic both as Streams or both as arrays")
        obs_traces = match_traces(list(observed), syn_traces)
        ctx = context if context is not None else context_for(syn_traces, event, receivers)
        obs_arr, syn_arr = stack(obs_traces, "observed"), stack(syn_traces)
        if obs_arr.shape != syn_arr.shape:
            raise DataError(
                "observed traces are not on the synthetics' time axis; read them with "
                "Preprocess.read_observed (or align them) first"
            )
        return obs_arr, syn_arr, ctx, False
    syn_arr = np.asarray(synthetic, dtype=np.float64)
    obs_arr = np.asarray(observed, dtype=np.float64)
    squeeze = syn_arr.ndim == 1
    if squeeze:
        syn_arr, obs_arr = syn_arr[None, :], obs_arr.reshape(1, -1)
    if syn_arr.shape != obs_arr.shape or syn_arr.ndim != 2:
        raise DataError(f"observed {obs_arr.shape} and synthetic {syn_arr.shape} differ")
    if context is None:
        if dt is None:
            raise DataError("give dt (or a TraceContext) with array data")
        context = TraceContext.for_arrays(syn_arr.shape[0], syn_arr.shape[1], dt, t0)
        if event is not None:
            context.sources = list(event.sources)
    return obs_arr, syn_arr, context, squeeze


def _check_preprocess(
    pre: Preprocess,
    observed: Stream,
    synthetic: Stream,
    event: Event | None,
    receivers: Sequence[Receiver] | None,
    **opts: Any,
) -> AdjointCheck:
    from obspy import Stream

    from seisgrad.preprocess.streams import stack, with_data

    if not isinstance(observed, Stream) or not isinstance(synthetic, Stream):
        raise DataError("a Preprocess is checked with observed and synthetic Streams")
    recs = list(receivers or [])
    traces = list(synthetic)
    x0 = stack(traces)
    res = pre.evaluate(observed, synthetic, event, recs)
    adj_by_id = {tr.id: np.asarray(tr.data, dtype=np.float64) for tr in res.adjoint}
    missing = [tr.id for tr in traces if tr.id not in adj_by_id]
    if missing or len(res.adjoint) != len(traces):
        raise GradientError(
            "the adjoint Stream must hold one trace per synthetic trace; missing: "
            + ", ".join(missing)
        )
    grad = np.array([adj_by_id[tr.id] for tr in traces])

    def func(x: np.ndarray) -> float:
        return pre.evaluate(observed, with_data(traces, x), event, recs).value

    skipped = _skipped(res.extra.get("measurements") or {})
    fixed = [i for i, tr in enumerate(traces) if tr.id in skipped]
    _refuse_all_skipped(skipped, len(traces))
    out = check_gradient(func, x0, grad, value=res.value, fixed_rows=fixed, **opts)
    out.not_checked = skipped
    return out


def dot_product_test(
    step: LinearStep | Chain,
    ctx: TraceContext,
    ntraces: int | None = None,
    seed: int = 0,
) -> float:
    """Relative mismatch :math:`|\\langle Lx, y\\rangle - \\langle x, L^T y\\rangle| /
    (\\|Lx\\|\\|y\\|)` for random ``x``, ``y`` (about 1e-16 for an exact transpose)."""
    n = ntraces if ntraces is not None else max(len(ctx.ids), 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, ctx.nt))
    y = rng.standard_normal((n, ctx.nt))
    if isinstance(step, Chain):
        if not step.linear:
            raise DataError("dot_product_test needs a linear chain; use check_step_vjp")
        lx, tape = step.forward_tape(x, ctx)
        lty = step.vjp(tape, y, ctx)
    else:
        if not step.linear:
            raise DataError(f"{step!r} is not linear; use check_step_vjp")
        lx = step.forward(x, ctx)
        lty = step.transpose(y, ctx)
    lhs, rhs = float(np.sum(lx * y)), float(np.sum(x * lty))
    den = float(np.linalg.norm(lx) * np.linalg.norm(y)) or 1.0
    return abs(lhs - rhs) / den


def check_step_vjp(
    step: Step | Chain,
    ctx: TraceContext,
    x: np.ndarray | None = None,
    seed: int = 0,
    **opts: Any,
) -> AdjointCheck:
    """Finite-difference check of a step's (or chain's) adjoint at ``x`` (random when
    ``None``), using :math:`J(x) = \\langle g, \\mathrm{step}(x)\\rangle` with random
    ``g``, whose gradient is ``vjp(x, g)``."""
    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.standard_normal((max(len(ctx.ids), 1), ctx.nt))
    x = np.asarray(x, dtype=np.float64)
    g = rng.standard_normal(x.shape)
    if isinstance(step, Chain):
        y, tape = step.forward_tape(x, ctx)
        grad = step.vjp(tape, g, ctx)

        def func(z: np.ndarray) -> float:
            return float(np.sum(g * step.forward(z, ctx)))
    else:
        y = step.forward(x, ctx)
        grad = step.vjp(x, g, ctx)

        def func(z: np.ndarray) -> float:
            return float(np.sum(g * step.forward(z, ctx)))

    return check_gradient(func, x, grad, value=float(np.sum(g * y)), seed=seed, **opts)
