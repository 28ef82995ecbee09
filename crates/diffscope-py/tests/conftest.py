import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def cli() -> pathlib.Path:
    """The release CLI binary (the README's test command builds it before running pytest)."""
    path = pathlib.Path(os.environ.get("DIFFSCOPE_BIN", ROOT / "target" / "release" / "diffscope"))
    if not path.exists():
        pytest.fail(f"the diffscope CLI is missing at {path}: run `cargo build --release -p diffscope-cli` "
                    "(or set DIFFSCOPE_BIN)")
    return path


@pytest.fixture(scope="session")
def digits() -> pathlib.Path:
    path = ROOT.parent / "shared" / "data" / "digits.csv.gz"
    if not path.exists():
        pytest.fail(f"the shared digits data set is missing at {path} (../shared beside the checkout)")
    return path
