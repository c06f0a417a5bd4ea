"""The embedded synthetic phantom cohort, written in the CirrMRI600+ layout.

It checks the suite's machinery end to end; it never stands in for clinical evidence.
See ``docs/phantom.md`` for the model behind it.
"""

from cirrbench.benchmark.data.phantom.writer import NOTICE, PHANTOM_VERSION, PhantomConfig, plan_cohort, write_phantom

__all__ = ["NOTICE", "PHANTOM_VERSION", "PhantomConfig", "plan_cohort", "write_phantom"]
