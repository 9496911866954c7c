"""The package's exception base and the errors that several layers raise.

Every error a user can cause (a bad option, file, data directory, trial list, checkpoint or input signal)
derives from `SSRFNetError`, and its message is one line naming the file, line, option or utterance. The
command-line layer (`ssrfnet.cli`) prints such errors as `<prog>: error: <message>` and exits with status 1;
anything else is a bug and keeps its traceback. Domain errors (AudioError, TrialsError, ...) live beside the
code that raises them and derive from `SSRFNetError` too.
"""

from __future__ import annotations


class SSRFNetError(Exception):
    """An error the user can fix; str() is one line naming what is wrong and where."""


class ConfError(SSRFNetError, ValueError):
    """A bad conf file or option value; the message names the file and line or the option."""


class InputError(SSRFNetError, ValueError):
    """A tensor or array handed to a model or a function has the wrong type, shape or length."""


class CheckpointError(SSRFNetError, ValueError):
    """A model or training checkpoint that cannot be read or does not fit the model (names the path, keys)."""
