"""How an error reaches the person at the terminal: one line, in the command's own flags.

Services name the input an error is about in the API's terms (``details["field"]``, see
``gis.errors``): ``radius_m``, ``grid_code``, ``scheduler``. At the terminal the same input is a
flag of the command that ran (``--radius-m``, ``--grid``, ``--dask``), so before printing, the CLI
turns the field, and any other API field name in the message, into that command's flag:

1. the command's row of ``COMMAND_FLAGS`` (names that differ for one command only),
2. ``FIELD_FLAGS`` (names that differ in every command),
3. the command's own option of that name (typer names a parameter after the Python argument,
   which the commands take from the service), or of that name without ``_code``/``_id``
   (``grid_code`` → the ``grid`` parameter → ``--grid``), or whose flag spells the field; else its
   positional argument of that name (shown as its metavar, ``FILE``),
4. otherwise ``--`` and the field with ``_`` as ``-``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from gis.errors import WanggeError

FIELD_FLAGS: dict[str, str] = {
    "scheduler": "--dask",  # the fan-out commands' Dask scheduler address
}
"""API field → flag where every command spells it the same other way."""

COMMAND_FLAGS: dict[str, dict[str, str]] = {
    "restore": {"replace": "--yes"},
    "visits cadence": {"changes": "--set"},
}
"""Command path (as typed after ``wangge``) → API field → flag, where one command differs."""

# snake_case names in a message are API field names (plain words never hold an underscore)
_FIELD_NAME = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


Command = TyperCommand | TyperGroup


def invoked_command(app: typer.Typer, args: Sequence[str]) -> tuple[str, Command | None]:
    """The command that ``args`` runs and its path ("partition grids"), parsed again without running it."""
    command = typer.main.get_command(app)
    path: list[str] = []
    try:
        ctx = command.make_context("wangge", list(args), resilient_parsing=True)
        while isinstance(command, TyperGroup):
            rest = [*ctx._protected_args, *ctx.args]
            if not rest:
                break
            name, sub, rest = command.resolve_command(ctx, rest)
            if not isinstance(sub, TyperCommand | TyperGroup) or name is None:
                break
            path.append(name)
            command = sub
            ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=True)
    except Exception:  # best effort: the line is still printed, with the default spelling of the flag
        return " ".join(path), None
    return " ".join(path), command if isinstance(command, TyperCommand | TyperGroup) else None


def flag_for(field: str, path: str, command: Command | None) -> str | None:
    """The flag of ``command`` for the API field ``field``, or None when the command has no such input."""
    if field in COMMAND_FLAGS.get(path, {}):
        return COMMAND_FLAGS[path][field]
    if field in FIELD_FLAGS:
        return FIELD_FLAGS[field]
    options = [p for p in (command.params if command else []) if isinstance(p, TyperOption)]
    spelled = "--" + field.replace("_", "-")
    for wanted in (field, field.removesuffix("_code"), field.removesuffix("_id")):
        for param in options:
            if param.name == wanted:
                return _long_flag(param)
    for param in options:
        if spelled in param.opts:
            return spelled
    for argument in (p for p in (command.params if command else []) if isinstance(p, TyperArgument)):
        if argument.name in (field, field.removesuffix("_code"), field.removesuffix("_id")):
            return argument.metavar or str(argument.name).upper()  # a positional argument, e.g. FILE
    return None


def _long_flag(param: TyperOption) -> str:
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0] if longs else param.opts[0]


def describe(error: WanggeError, path: str = "", command: Command | None = None) -> str:
    """The error's one line for the terminal: its field as the command's flag, then what is wrong."""
    message = error.message
    field = error.field
    if field is None:
        return message
    flag = flag_for(field, path, command) or "--" + field.replace("_", "-")
    message = message.replace(f" · {field}: ", " · ", 1)  # a bilingual message names it once, in front
    if message.startswith(f"{field}:"):
        message = message[len(field) + 1:].lstrip()
    elif message.startswith(f"{field} ") and not message.startswith((f"{field} or ", f"{field} and ")):
        message = message[len(field) + 1:]
    elif message.startswith(f"{field} "):  # "grid_code or community_code: ..." reads as it is, in flags
        message = flag + message[len(field):]
        flag = ""

    def as_flag(match: re.Match[str]) -> str:
        return flag_for(match.group(0), path, command) or match.group(0)

    text = _FIELD_NAME.sub(as_flag, message)
    return f"{flag}: {text}" if flag else text
