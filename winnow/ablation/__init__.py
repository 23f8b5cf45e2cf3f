"""The ablation instrument: paired statistics (`stats`), per-model metrics
(`scoring`), arm building and junk planting for calibration (`calibrate`),
and the filter-only check (`tier0`). `winnow/ablate.py` runs ablations."""
