"""Profiles, paths and the per-notebook start-up call (taught in 00_baseline).

A profile fixes how much data and how many epochs every notebook uses, so that
the same notebook runs in a minute under CI (``smoke``), in a few minutes on a
laptop CPU (``standard``) or to its best accuracy on a GPU (``full``). Pick one
with the ``COURSE_PROFILE`` environment variable.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILE_ENV = "COURSE_PROFILE"
DEFAULT_PROFILE = "standard"


@dataclass(frozen=True)
class Profile:
    """How much data and training every notebook gets."""

    name: str
    n_train: int | None  # None: all that is left after carving validation
    n_val: int
    n_test: int | None  # None: the whole test split
    epochs: int
    batch_size: int
    budget_seconds: int  # what one notebook should take on 2 CPU cores
    purpose: str

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        n_train=2_000,
        n_val=500,
        n_test=1_000,
        epochs=2,
        batch_size=64,
        budget_seconds=60,
        purpose="CI and nbval: checks that everything runs, not what it learns",
    ),
    "standard": Profile(
        name="standard",
        n_train=10_000,
        n_val=5_000,
        n_test=10_000,
        epochs=15,
        batch_size=64,
        budget_seconds=8 * 60,
        purpose="a laptop CPU: small enough to overfit, big enough to measure",
    ),
    "full": Profile(
        name="full",
        n_train=None,
        n_val=5_000,
        n_test=None,
        epochs=30,
        batch_size=128,
        budget_seconds=30 * 60,
        purpose="a GPU or Colab: the whole training split, best accuracy",
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """Return the profile called ``name``, else ``$COURSE_PROFILE``, else standard."""
    chosen = name or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    chosen = chosen.strip().lower()
    if chosen not in PROFILES:
        known = ", ".join(PROFILES)
        raise ValueError(
            f"Unknown course profile {chosen!r}. Choose one of: {known} "
            f"(set it with `export {PROFILE_ENV}=smoke`, for example)."
        )
    return PROFILES[chosen]


def results_dir() -> Path:
    """Where run records and trained models go (``$COURSE_RESULTS_DIR`` or results/)."""
    return Path(os.environ.get("COURSE_RESULTS_DIR", REPO_ROOT / "results"))


def build_dir() -> Path:
    """Where executed notebooks, reports and figures go."""
    return Path(os.environ.get("COURSE_BUILD_DIR", REPO_ROOT / "build"))


_current_notebook: str | None = None


def current_notebook() -> str | None:
    """The notebook named by the last `start_notebook` call, if any."""
    return _current_notebook


def start_notebook(notebook: str, profile: str | None = None, seed: int = 0) -> Profile:
    """Set up a notebook: choose the profile, seed everything, print the profile.

    Every lecture and lab calls this once in its setup cell. Run records made
    afterwards are filed under ``notebook`` so that `make run` can report them.
    """
    from utils import training  # late import: keeps `import utils` light

    global _current_notebook
    _current_notebook = notebook
    chosen = get_profile(profile)
    training.seed_everything(seed)
    training.start_run_index(notebook, chosen.name)
    n_train = "all" if chosen.n_train is None else f"{chosen.n_train:,}"
    n_test = "all" if chosen.n_test is None else f"{chosen.n_test:,}"
    print(
        f"Profile {chosen.name!r}: {n_train} train / {chosen.n_val:,} val / "
        f"{n_test} test images, {chosen.epochs} epochs, batch {chosen.batch_size}, "
        f"seed {seed}  ({chosen.purpose})"
    )
    return chosen
