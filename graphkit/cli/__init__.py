"""The `graphkit` command line: `main` and one module per subcommand.

Each subcommand module defines `add_parser(subparsers)` and imports TensorFlow
and the library lazily inside its handler, so that `graphkit --help` answers at
once. Nothing imports `graphkit.cli`.
"""
