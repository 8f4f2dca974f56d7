"""How `--help` reads: prose that re-wraps to the terminal's width, and metavars a person would
write (`--db FILE`, `[ID]...`), not typer's type names (`<str>`, `<bool>`, `<list[str]>`).

`tidy(app)` gives every registered command and group these classes; the commands themselves
declare nothing special (a metavar given in an option's declaration still wins).
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def reflow(text: str | None) -> str | None:
    """Join the lines of each prose paragraph, so the help re-wraps at any width. A paragraph
    with an indented line (an example command) keeps its lines as written."""
    if not text:
        return text
    first, *rest = [
        p if any(line[:1].isspace() or line.startswith("\b") for line in p.splitlines())
        else " ".join(line.strip() for line in p.splitlines())
        for p in inspect.cleandoc(text).split("\n\n")
    ]
    # An empty paragraph after the first: typer dedents the rest as one block whose first line
    # does not count, so "Examples:" followed only by indented lines would lose their indent.
    return "\n\n".join([first, "", *rest]) if rest else first


class _Argument(TyperArgument):
    """An argument shown by its name alone: `TYPE`, `[FILE]`, `[ID]...` (no `{TYPE}`, no type)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:
        return self.display_name_raw + ("..." if self.nargs != 1 else "")

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


def _option_metavar(option: TyperOption) -> str:
    """What follows an option in the help: nothing for a flag, the choices, or a word."""
    if option.is_flag or option.count:
        return ""
    desc = option.type_descriptor
    if desc.is_choice and desc.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices) + "]"
    if desc.is_path:
        return "PATH"
    if desc.annotation in (int, float):
        return "N"
    long_names = [o for o in option.opts if o.startswith("--")] or option.opts
    return long_names[0].lstrip("-").split("-")[-1].upper()  # --client-version VERSION


def _tidy_params(params: list[Any]) -> None:
    for param in params:
        if isinstance(param, TyperArgument) and not isinstance(param, _Argument):
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            param.__class__ = _Argument  # same state, only the two display methods differ
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = _option_metavar(param)


class Command(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:  # with --help and the completion options
        params = super().get_params(ctx)
        _tidy_params(params)
        return params


class Group(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _tidy_params(params)
        return params


def tidy(app: typer.Typer) -> None:
    """Every command and group registered on `app` (and its sub-groups) gets these classes."""
    app.info.cls = Group
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = Command
    for group in app.registered_groups:
        group.cls = Group
        if group.typer_instance is not None:
            tidy(group.typer_instance)
