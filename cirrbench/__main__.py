"""``python -m cirrbench ...`` is the ``cirrbench`` command."""
from .benchmark.cli import main

raise SystemExit(main())
