"""`python -m graphkit` is the `graphkit` command."""

import sys

from graphkit.cli.main import main

sys.exit(main())
