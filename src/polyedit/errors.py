"""One exception type for bad user input.

The CLI turns a `PolyeditError` into a single line on stderr and exit code 2, with no traceback;
anything else is a bug and keeps its traceback.
"""


class PolyeditError(ValueError):
    """Bad input: an unknown name, a malformed record, a path that does not exist."""


def shorten(value: object, width: int = 60) -> str:
    """`repr(value)` cut to about `width` characters, so an error line never echoes a 100 KB field."""
    text = repr(value)
    return text if len(text) <= width else f"{text[:width - 12]}...({len(text)} chars)"
