"""Temporal weights of the blob example: a first-arrival taper, as in the Salvus
gradient tutorial.

seisgrad calls ``weights(stream, receiver, sources)`` once per receiver (the parameter
file names it as ``weights_function: weights.py:weights``). Everything before the
direct P wave is muted (with a Hann ramp of ``RAMP`` seconds ending ``LEAD`` seconds
before the predicted arrival); the rest of the trace is kept, so the waves scattered by
the blob are measured.
"""

from __future__ import annotations

import math

import numpy as np

VP = 1500.0  # P velocity of the initial model (m/s)
LEAD = 0.08  # the window opens this long before the predicted arrival (s)
RAMP = 0.05  # length of the Hann ramp (s)


def weights(stream, receiver, sources):  # noqa: ANN001, ANN201 - user hook signature
    src = sources[0]
    distance = math.hypot(receiver.x - src.x, receiver.z - src.z)
    delay = src.stf.delay  # the wavelet's centre is at t = delay
    t_open = delay + distance / VP - LEAD
    out = {}
    for tr in stream:
        t = tr.times()
        ramp = np.clip((t - (t_open - RAMP)) / RAMP, 0.0, 1.0)
        out[tr.stats.channel] = 0.5 - 0.5 * np.cos(np.pi * ramp)
    return out
