"""Exceptions raised by diffscope.

Every error of the library is a :class:`DiffscopeError` and also an instance of the matching builtin, so
``except ValueError`` and ``except OSError`` work as a Python user expects:

- :class:`ParamError`, :class:`ShapeError`, :class:`NonFiniteError`, :class:`FormatError`,
  :class:`ConfigError` and :class:`ScoreCallError` are ``ValueError``\\ s;
- :class:`DiffscopeIOError` is an ``OSError`` (``errno`` and ``filename`` set when the system gave them);
- :class:`NumericalError` is an ``ArithmeticError``; :class:`DeviceError` a ``RuntimeError``;
- a stopped run raises ``KeyboardInterrupt`` (Ctrl-C), never a partial result.
"""


class DiffscopeError(Exception):
    """Base class of diffscope's errors."""


class ParamError(DiffscopeError, ValueError):
    """A parameter outside its allowed range (the message names it and the value)."""


class ShapeError(DiffscopeError, ValueError):
    """Arrays whose shapes do not fit together, or an empty data set."""


class NonFiniteError(DiffscopeError, ValueError):
    """A NaN or infinite value in input data (the message names row and column)."""


class FormatError(DiffscopeError, ValueError):
    """A malformed file (bad header, wrong dtype, truncated, ragged...)."""


class ConfigError(DiffscopeError, ValueError):
    """A config that does not parse or has unknown keys."""


class DeviceError(DiffscopeError, RuntimeError):
    """A compute device that is missing or failed: no CUDA driver, GPU or NVRTC, or out of device memory
    (the message says what to install). Never a silent fall-back to the CPU."""


class ScoreCallError(DiffscopeError, ValueError):
    """A Python score callable returned the wrong type, shape or dtype, or a non-finite value."""


class NumericalError(DiffscopeError, ArithmeticError):
    """A numerical routine that failed (no convergence, no root...)."""


class DiffscopeIOError(DiffscopeError, OSError):
    """An operating-system error while reading or writing a file."""


__all__ = [
    "DiffscopeError",
    "ParamError",
    "ShapeError",
    "NonFiniteError",
    "FormatError",
    "ConfigError",
    "ScoreCallError",
    "NumericalError",
    "DiffscopeIOError",
]
