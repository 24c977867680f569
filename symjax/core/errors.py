"""The project's error type: input that symjax refuses, told in one line.

Data-flow stage: none of its own; every stage raises it for a bad matrix, flag, file or folder, and
the command line (``symjax.cli.main``) catches it in one place: one line on stderr, exit status 2.
Any other exception is a bug and keeps its traceback. Free of jax.
"""

from __future__ import annotations


class SymjaxError(ValueError):
    """Bad input (a matrix, flag, data file, results folder or benchmark file); the message says what is wrong
    and what is allowed. A ValueError, so code that turns a lower layer's refusal into its own still catches
    it."""


def one_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name when the message is empty.

    >>> one_line(SymjaxError("bad key\\nmore")), one_line(SymjaxError(""))
    ('bad key', 'SymjaxError')
    """
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
