"""Shared code of the course; each module's docstring names the notebook teaching it.

Submodules load on first use (``utils.data``, ``utils.models``, …), so that
``import utils`` stays quick and tools that need no TensorFlow do not import it.
"""

import importlib

__all__ = [
    "augmentation",
    "bench",
    "checks",
    "colab",
    "config",
    "data",
    "evaluation",
    "labs",
    "models",
    "plots",
    "quantization",
    "report",
    "runs",
    "training",
]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"utils.{name}")
    raise AttributeError(f"module 'utils' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
