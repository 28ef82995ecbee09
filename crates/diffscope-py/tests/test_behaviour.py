"""What a Python user expects: clear exceptions, the GIL released, Ctrl-C, progress, no partial files."""

import _thread
import os
import threading
import time

import numpy as np
import pytest

import diffscope as ds


@pytest.fixture(scope="module")
def score():
    return ds.EmpiricalScore(ds.two_class(200, d=10, seed=1))


@pytest.fixture(scope="module")
def big():
    return ds.EmpiricalScore(ds.two_class(20000, d=100, seed=1))


def test_wrong_dtype_is_a_type_error(score):
    with pytest.raises(TypeError, match="int32"):
        score(np.zeros((3, 10), dtype=np.int32), 0.5)
    with pytest.raises(TypeError, match="list"):
        score([[0.0] * 10], 0.5)


def test_wrong_shape_is_a_shape_error(score):
    with pytest.raises(ds.ShapeError, match="d = 9"):
        score(np.zeros((3, 9), np.float32), 0.5)
    with pytest.raises(ValueError):
        score(np.zeros(10, np.float32), 0.5)


def test_nan_is_a_non_finite_error_naming_row_and_column(score):
    x = np.zeros((3, 10), np.float32)
    x[2, 4] = np.nan
    with pytest.raises(ds.NonFiniteError, match="row 2, column 4"):
        score(x, 0.5)
    with pytest.raises(ds.NonFiniteError):
        ds.Dataset.from_numpy(x)


def test_fortran_order_is_copied_never_transposed(score):
    x = np.random.default_rng(0).standard_normal((10, 5)).astype(np.float32).T  # (5, 10), Fortran order
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(score(x, 0.5), score(np.ascontiguousarray(x), 0.5))
    # The compiled core itself refuses a non-C-order array with a TypeError rather than misreading it.
    with pytest.raises(TypeError, match="C-contiguous"):
        score._native.eval(x, 0.5)


def test_float64_is_cast(score):
    x = np.random.default_rng(0).standard_normal((4, 10))
    np.testing.assert_array_equal(score(x, 0.5), score(x.astype(np.float32), 0.5))


def test_bad_parameters_are_param_errors(score):
    with pytest.raises(ds.ParamError, match="t"):
        score(np.zeros((1, 10), np.float32), -1.0)
    with pytest.raises(ds.ParamError, match="t_min"):
        ds.sample(score, 10, t_min=-0.1)
    with pytest.raises(ds.ConfigError, match="unknown field"):
        ds.regimes(batchh=10)
    with pytest.raises(ds.ParamError, match="pairs"):
        ds.regimes(ds.Model({"kind": "two-class", "d": 4}), n=50, batch=10, pairs=20)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError) as e:
        ds.load_data(tmp_path / "nope.csv")
    assert isinstance(e.value, ds.DiffscopeError)
    assert "nope.csv" in str(e.value)


def test_a_callable_returning_the_wrong_shape_raises_naming_the_call():
    def bad(x, t):
        return np.zeros((x.shape[0], 3), np.float32)

    with pytest.raises(ds.ScoreCallError, match=r"bad \(call 0, t = 6\).*shape \(8, 3\)"):
        ds.sample(bad, 8, d=10, steps=5)


def test_a_callable_returning_nan_or_a_list_raises():
    with pytest.raises(ds.ScoreCallError, match="non-finite"):
        ds.sample(lambda x, t: np.full_like(x, np.nan), 4, d=3, steps=5)
    with pytest.raises(ds.ScoreCallError, match="list"):
        ds.sample(lambda x, t: [[0.0] * 3] * 4, 4, d=3, steps=5)


def test_a_callable_exception_propagates_unchanged():
    class Boom(Exception):
        pass

    def f(x, t):
        raise Boom("from the model")

    with pytest.raises(Boom, match="from the model"):
        ds.sample(f, 4, d=3, steps=5)


def test_a_second_thread_advances_while_a_long_call_runs(big):
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.002)

    th = threading.Thread(target=tick)
    th.start()
    t0 = time.perf_counter()
    ds.sample(big, 400, steps=40, seed=0)
    t1 = time.perf_counter()
    stop.set()
    th.join()
    during = [t for t in ticks if t0 < t < t1]
    # With the GIL held the whole call, the ticker could not run at all during it; released, it ticks
    # about every 2 ms (allow a loaded 2-core host 10 % of that).
    assert t1 - t0 > 0.2, "the call is long enough to tell"
    assert len(during) > 0.1 * (t1 - t0) / 0.002


def test_keyboard_interrupt_stops_a_long_call_within_a_second(big, tmp_path):
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        ds.regimes(ds.Model({"kind": "two-class", "d": 100}), n=20000, batch=2000, pairs=500, steps=400,
                   out=tmp_path / "run")
    assert time.perf_counter() - t0 < 0.5 + 1.0
    # Nothing half-written is left: neither the run directory nor a temporary beside it.
    assert os.listdir(tmp_path) == []


def test_progress_callback_sees_the_steps(score):
    seen = []
    ds.sample(score, 20, steps=30, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (30, 30)
    assert all(t == 30 for _, t in seen)


def test_a_raising_progress_callback_stops_the_call(big):
    def cb(done, total):
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        ds.sample(big, 2000, steps=400, progress=cb)
