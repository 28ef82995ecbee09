"""Reading run directories into Python objects."""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Dict

import numpy as np


def _read_csv(path: str) -> Dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    head, body = rows[0], rows[1:]
    cols: Dict[str, np.ndarray] = {}
    for j, name in enumerate(head):
        vals = []
        for r in body:
            try:
                vals.append(float(r[j]) if r[j] != "" else float("nan"))
            except (ValueError, IndexError):
                vals.append(float("nan"))
        cols[name] = np.asarray(vals)
    return cols


def read_run(path: "str | os.PathLike[str]") -> Dict[str, Any]:
    """Loads any diffscope run directory (or sweep directory) into a dict for a notebook.

    Keys: ``summary`` (summary.json), ``config`` (config.toml as a dict with Python ≥ 3.11, else its
    text), ``curves`` (curves.json), one entry per CSV (name without extension → dict of column arrays),
    per .npy / .npz file (arrays), ``figures`` (the PNG/SVG paths) and ``runs`` (sub-run directories, each
    read the same way)."""
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise FileNotFoundError(2, "not a run directory", root)
    out: Dict[str, Any] = {"path": root, "figures": [], "runs": {}}
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        stem, ext = os.path.splitext(name)
        if os.path.isdir(p):
            if not name.startswith("."):
                out["runs"][name] = read_run(p)
        elif name == "summary.json":
            with open(p) as f:
                out["summary"] = json.load(f)
        elif name == "curves.json":
            with open(p) as f:
                out["curves"] = json.load(f)
        elif ext == ".json":
            with open(p) as f:
                out[stem] = json.load(f)
        elif name == "config.toml":
            with open(p, "rb") as f:
                raw = f.read()
            try:
                import tomllib  # Python ≥ 3.11

                out["config"] = tomllib.loads(raw.decode())
            except ImportError:
                out["config"] = raw.decode()
        elif ext == ".csv":
            out[stem] = _read_csv(p)
        elif ext == ".npy":
            out[stem] = np.load(p)
        elif ext == ".npz":
            with np.load(p) as z:
                out[stem] = {k: z[k] for k in z.files}
        elif ext in (".png", ".svg"):
            out["figures"].append(p)
    return out
