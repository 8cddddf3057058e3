"""Importing TensorFlow without its C++ start-up banner on stderr.

TensorFlow's wheel prints a few lines (oneDNN notice, "Could not find cuda
drivers") while it loads, before its logging honours TF_CPP_MIN_LOG_LEVEL.
A CLI whose errors are one line on stderr cannot have them, so the import runs
with file descriptor 2 captured; the capture is replayed only if it fails.
"""

from __future__ import annotations

import os
import sys
import tempfile


def import_tensorflow():
    """Imports and returns `tensorflow`, keeping its load-time banner off stderr."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ errors still reach Python as exceptions
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        except BaseException:
            os.dup2(saved_stderr, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
            raise
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
    return tensorflow
