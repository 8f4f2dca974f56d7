"""One problem found in qbXML or in plain data meant for qbXML, and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass

from qbsync.errors import EXIT_INVALID, QbsyncError


@dataclass(frozen=True)
class Problem:
    """`path` is an element path (`/QBXML/QBXMLMsgsRq/CustomerAddRq/CustomerAdd/Name`) or a field
    path in plain data; `message` names the value and the rule it breaks; `line` is the line in
    the document when there is one."""

    path: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict:
        return {"line": self.line, "path": self.path, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class QbxmlValidationError(QbsyncError):
    """Raised when qbXML (or the data for it) breaks the schema. Exit code 3."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems = list(problems)
        if not self.problems:
            text = "invalid qbXML"
        else:
            text = str(self.problems[0])
            others = len(self.problems) - 1
            if others:
                text += f" (and {others} more problem{'s' if others > 1 else ''})"
        super().__init__(text)
