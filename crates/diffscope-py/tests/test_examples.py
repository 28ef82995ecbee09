"""The newcomer's example runs as documented (digits: a few seconds)."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_quickstart_runs(tmp_path, digits):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "t_S measured" in out.stdout and "f_mem = 1.00" in out.stdout
    assert (tmp_path / "runs" / "quickstart" / "summary.json").exists()
    # The digits are declared 8 × 8 images: the run directory shows its end points beside their neighbours.
    assert (tmp_path / "runs" / "quickstart" / "samples.png").exists()
