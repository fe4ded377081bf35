"""The documented parameter range of every degradation: the single table the samplers draw from.

Values are on the 0–255 intensity scale unless a name says otherwise. Each range is a closed interval
``(low, high)``; a parameter left to ``None`` is drawn uniformly from it. Where each range comes from (paper,
official code, EMS, ControlFusion, or our measurement of the real DSPFusion sample data) is documented in
docs/DEGRADATIONS.md, with the numbers from benchmarks/fit_sample_degradations.py.
"""
from __future__ import annotations

Range = tuple[float, float]

VI_RANGES: dict[str, dict[str, Range]] = {
    "Blur": {"sigma": (0.2, 4.0)},
    "Rain": {"alpha": (0.85, 0.92), "angle": (-45.0, 45.0), "density": (0.015, 0.025)},
    "LL": {"gamma": (1.0, 2.2), "gain": (0.3, 0.8), "noise": (0.0, 1.5)},
    "OE": {"lift": (40.0, 130.0), "clip_level": (180.0, 255.0)},
    "RN": {"sigma": (8.0, 12.0), "photons": (65.0, 100.0)},
    "haze": {"beta": (0.08, 0.16), "airlight": (0.7, 0.9), "center_y": (0.1, 0.35), "center_x": (0.25, 0.85)},
}

IR_RANGES: dict[str, dict[str, Range]] = {
    "LC": {
        "scale": (0.2, 0.8),
        "low": (0.0, 150.0),
        "gamma": (0.3, 1.25),
        "field_std": (3.0, 10.0),
        "field_scale": (48.0, 160.0),
    },
    "RN": {"sigma": (12.0, 18.0), "photons": (70.0, 110.0), "salt": (3e-4, 1.5e-3), "pepper": (0.0, 1e-3)},
    "SN": {"sigma": (4.0, 10.0), "stripe": (4.0, 9.0)},
}

# Fixed constants of the recipes (not drawn): kept here so docs, code and tests agree.
BLUR_KERNEL = 21  # DSPF utils/IR_degraded.py, paper: 21x21 Gaussian
RAIN_LENGTH = 50  # EMS streak kernel size L
RAIN_OFFSET = 0.8  # EMS/CF brightness offset gamma added to the composite (0-255 scale)
RAIN_STREAK_BLUR = 3  # EMS Gaussian blur width of the streak kernel
HAZE_D0 = 17.0  # EMS depth at the haze centre
HAZE_SLOPE = 0.04  # EMS depth decrease per pixel, in a 640-pixel frame
HAZE_FRAME = 640.0  # the frame size EMS's pixel constants refer to
