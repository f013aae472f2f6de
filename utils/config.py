"""Profiles, paths and the per-notebook start-up call (taught in 00_baseline).

A profile fixes how much data and how many epochs every notebook uses, so that
the same notebook runs in a minute under CI (``smoke``), in a few minutes on a
laptop CPU (``standard``) or to its best accuracy on a GPU (``full``). Pick one
with the ``COURSE_PROFILE`` environment variable.

`start_notebook` is each notebook's one setup call; it tells the run store
(`utils.runs`) which notebook runs and under which profile. This module does not
import TensorFlow until a notebook starts, so that ``make run``'s driver and
``make labs`` stay light.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from utils import runs

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
    seeds: int  # how many seeds a repeated run (`utils.training.fit_seeds`) uses
    # Epochs of 06's final model over the whole training split (the smoke data in
    # the smoke profile); its full budget, `utils.models.FINAL_TRAINING`, in full.
    final_epochs: int = 1

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
        seeds=2,
        final_epochs=1,
    ),
    "standard": Profile(
        name="standard",
        n_train=10_000,
        n_val=5_000,
        n_test=10_000,
        # 40 epochs with a cosine schedule: the early-stopped baseline still
        # memorizes (train 0.98-0.99, test 0.888) and its seeds agree within
        # 0.15 points (docs/instructors.md, "Why this regime").
        epochs=40,
        batch_size=64,
        budget_seconds=8 * 60,
        purpose="a laptop CPU: small enough to overfit, big enough to measure",
        seeds=3,
        # A shorter cosine run of the final model, so that 06 fits 15 minutes.
        final_epochs=6,
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
        seeds=3,
        final_epochs=30,
    ),
}


class ProfileError(ValueError):
    """An unknown or malformed profile: a user's error, shown without a traceback.

    IPython calls ``_render_traceback_``, so a notebook shows the message alone.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def get_profile(name: Profile | str | None = None) -> Profile:
    """Return the profile called ``name``, else ``$COURSE_PROFILE``, else standard.

    A `Profile` is returned as it is. Anything else that is not a known name
    raises `ProfileError` with the choices and the fix.
    """
    if isinstance(name, Profile):
        return name
    known = ", ".join(PROFILES)
    if name is not None and not isinstance(name, str):
        raise ProfileError(
            f"A profile is a name such as 'smoke', not {name!r} "
            f"({type(name).__name__}). Choose one of: {known}."
        )
    chosen = name or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    chosen = chosen.strip().lower()
    if chosen not in PROFILES:
        raise ProfileError(
            f"Unknown course profile {chosen!r}. Choose one of: {known} "
            f"(set it with `export {PROFILE_ENV}=smoke`, for example)."
        )
    return PROFILES[chosen]


def build_dir() -> Path:
    """Where executed notebooks, reports and figures go."""
    return Path(os.environ.get("COURSE_BUILD_DIR", REPO_ROOT / "build"))


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and make TF ops deterministic.

    Defined in 00_baseline; `utils.training.fit` calls it before every run.
    """
    # TensorFlow loads here, when a notebook or a run starts, not on import.
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def start_notebook(
    notebook: str, profile: Profile | str | None = None, seed: int = 0
) -> Profile:
    """Set up a notebook: choose the profile, seed everything, print the profile.

    Every lecture and lab calls this once in its setup cell. Runs trained
    afterwards use this profile's budget (unless a call says otherwise) and are
    filed under ``notebook`` and this profile, so that `make run` reports them.
    """
    chosen = get_profile(profile)
    runs.begin_notebook(notebook, chosen)
    seed_everything(seed)
    n_train = "all" if chosen.n_train is None else f"{chosen.n_train:,}"
    n_test = "all" if chosen.n_test is None else f"{chosen.n_test:,}"
    print(
        f"Profile {chosen.name!r}: {n_train} train / {chosen.n_val:,} val / "
        f"{n_test} test images, {chosen.epochs} epochs, batch {chosen.batch_size}, "
        f"{chosen.seeds} seeds for repeated runs, seed {seed}  ({chosen.purpose})"
    )
    return chosen
