"""``python -m cirrbench ...`` is the ``cirrbench`` command."""

from cirrbench.cli import main

raise SystemExit(main())
