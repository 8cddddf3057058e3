"""Subcommands of the `graphkit` CLI, one module each with `add_parser(subparsers)`.

Command modules import TensorFlow lazily inside their handlers, so that
`graphkit --help` answers at once.
"""
