"""``python -m cirrbench ...`` is the ``cirrbench`` command."""

from cirrbench.benchmark.cli import main

raise SystemExit(main())
