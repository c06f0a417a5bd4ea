"""The commands of ``cirrbench``: each is a function registered with :func:`command`, its help
taken from its docstring, so a new command is one function in one module of this package."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from cirrbench.benchmark.common.registry import Registry

__all__ = ["Command", "UsageError", "command", "commands", "group", "groups", "unregister_command"]

Handler = Callable[[argparse.Namespace], int]
Options = Callable[[argparse.ArgumentParser], None]


class UsageError(ValueError):
    """A command line that cannot be run as given (exit 2)."""


@dataclass(frozen=True)
class Command:
    """One ``cirrbench`` command.

    Args:
        words: its words after ``cirrbench`` (``("data", "validate")``).
        run: the handler; returns the exit code.
        options: adds its options to its parser.
        parents: factories of parent parsers whose options it shares (argparse ``parents=``).
    """

    words: tuple[str, ...]
    run: Handler
    options: Options
    parents: tuple[Callable[[], argparse.ArgumentParser], ...] = ()

    @property
    def help(self) -> str:
        """The docstring's first line: the one-line summary in ``cirrbench --help`` (argparse
        %-formats help, not descriptions, so docstrings write a plain %)."""
        return (inspect.getdoc(self.run) or "").split("\n", 1)[0].replace("%", "%%")

    @property
    def description(self) -> str:
        """The docstring after its first line (else that line): the text of ``cirrbench ... --help``."""
        parts = (inspect.getdoc(self.run) or "").split("\n\n", 1)
        return " ".join(parts[-1].split())


@dataclass(frozen=True)
class Group:
    """A word that gathers commands (``data``, ``features``, ``perf``)."""

    word: str
    help: str
    description: str


_COMMANDS: Registry[Command] = Registry("command", defined_by=lambda command: command.run)
_GROUPS: Registry[Group] = Registry("command group")


def command(words: str, options: Options, *, parents: tuple[Callable[[], argparse.ArgumentParser], ...] = ()):
    """Register the decorated handler as ``cirrbench WORDS``.

    Args:
        words: the command's words, e.g. ``"data validate"`` (its group registered with :func:`group`).
        options: a function adding the command's options to its parser.
        parents: factories of parent parsers whose options the command shares.

    Returns:
        The decorator; it returns the handler unchanged.
    """

    def decorate(run: Handler) -> Handler:
        if not inspect.getdoc(run):
            raise TypeError(f"cirrbench {words}: the handler needs a docstring (its help text)")
        _COMMANDS.register(" ".join(words.split()), Command(tuple(words.split()), run, options, parents))
        return run

    return decorate


def group(word: str, help: str, description: str) -> None:
    """Declare a group word of commands (``cirrbench WORD COMMAND``); its modules pass their
    docstring as the description."""
    _GROUPS.register(word, Group(word, help, " ".join(description.split())))


def unregister_command(words: str) -> None:
    """Forget a command (tests and interactive sessions). Unknown words are ignored."""
    _COMMANDS.unregister(" ".join(words.split()))


def commands() -> list[Command]:
    """Every registered command, in registration order (the order of ``--help``)."""
    return list(_COMMANDS.entries().values())


def groups() -> dict[str, Group]:
    return _GROUPS.entries()
