"""``python -m arrears.core``: the same as the ``arrears`` command."""

from arrears.core.cli import main

main()
