"""``cirrbench perf``: measured speed of the suite, written as JSON (and plots) with the machine.

``speed.py`` times the heavy parts (feature extraction, training, the device input path, the
phantom's scaling), ``kernel_cost.py`` what ``reproducible: bitwise`` costs and whether it holds,
``loop.py`` the researcher's edit-run-read loop. They sit above ``benchmark/``, ``baselines/`` and
``models/`` because they drive all three.
"""
