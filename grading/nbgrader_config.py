"""nbgrader settings for grading the course's labs.

Copy this file into your nbgrader course folder, outside the course checkout;
docs/instructors.md ("Grade with nbgrader") walks through a whole round.
Environment variables set before running nbgrader take precedence over the
defaults below.
"""

import os
import sys
from pathlib import Path

from utils import labs

c = get_config()  # noqa: F821 - nbgrader provides it
course_folder = Path(__file__).resolve().parent

# nbgrader runs `alembic` from its environment's bin folder: find it there even
# when the environment is not activated (`.venv/bin/nbgrader ...`).
os.environ["PATH"] = os.pathsep.join(
    [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
)
# Graded notebooks run in the smoke profile: about a minute a lab on 2 CPU cores.
os.environ.setdefault("COURSE_PROFILE", "smoke")
# Their run records go to the course folder, never into the course checkout.
os.environ.setdefault("COURSE_RESULTS_DIR", str(course_folder / "results"))
# TensorFlow's start-up log lines stay out of the learners' feedback.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The release equals labs/: the lab's stubs, header and locked graded cells.
c.GenerateAssignment.preprocessors = labs.release_preprocessors()

# A cell may run for 10 minutes, longer than the checks' own time limits (a check
# stops a runaway answer itself: a ✗, no point for that exercise). A cell that
# runs longer fails the whole submission, which autograde reports as an error,
# instead of nbgrader's default: interrupt it, carry on, and score the graded
# cells that still pass.
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = False
