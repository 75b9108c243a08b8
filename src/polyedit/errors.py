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


class SpecError(PolyeditError):
    """A bad setting of a run, naming its field. `message` may name other fields, each `refs` entry written
    `{field}` in it; each front end renders field names its own way (`render`): the library by the field's
    name, the CLI by its flag, a sweep file by its key."""

    def __init__(self, field: str | None, message: str, refs: tuple[str, ...] = ()) -> None:
        self.field, self.message, self.refs = field, message, refs
        super().__init__(self.render())

    def render(self, name=lambda field: field, where: str = "") -> str:
        text = self.message
        for ref in self.refs:
            text = text.replace("{" + ref + "}", name(ref))
        return f"{where}{name(self.field)}: {text}" if self.field else f"{where}{text}"
