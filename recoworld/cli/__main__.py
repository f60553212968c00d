"""``python -m recoworld.cli``: the ``recoworld`` command line."""

from recoworld.cli import main

raise SystemExit(main())
