"""Every failure a user can hit, one class each, under :class:`MsmvpError`.

Exceptions carry a one-line message and a hint; the CLI prints both and exits non-zero.
They never print themselves.
"""

from __future__ import annotations


class MsmvpError(Exception):
    """Base of every error msmvp reports to a user."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint

    def __str__(self) -> str:
        return self.message


class InvalidNameError(MsmvpError):
    """A project or service name that is not a DNS label and Python identifier."""

    default_hint = "use 1-40 lowercase letters, digits and '-', starting with a letter, e.g. 'order-items'"


class UnknownOptionError(MsmvpError):
    """An option axis or value msmvp does not know."""


class IncompatibleOptionsError(MsmvpError):
    """A set of option values that breaks one of the option model's rules."""


class NotBuiltError(MsmvpError):
    """An option value that is modelled but whose templates do not exist yet."""


class TargetExistsError(MsmvpError):
    """The output directory exists and is not empty."""

    default_hint = "choose another name or --output-dir, or remove the directory first"


class AnswersFileError(MsmvpError):
    """An answers file that cannot be read or has the wrong shape."""


class ManifestError(MsmvpError):
    """A missing or malformed msmvp.yaml."""

    default_hint = "run the command inside a project made by `msmvp new`, or fix msmvp.yaml"


class DomainError(MsmvpError):
    """A resource or field of the domain that cannot be built; ``loc`` names where it is in
    ``msmvp.yaml`` (keys and indexes below the service), turned into FILE:LINE by the reader."""

    def __init__(self, message: str, hint: str = "", loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message, hint)
        self.loc = loc


class UnknownResourceError(DomainError):
    """A resource (or field) name the service does not have."""


class DropRefusedError(MsmvpError):
    """A removal from the domain (a resource or field, and the data in it) without ``--allow-drop``."""


class ChecklistError(MsmvpError):
    """A checklist file that is malformed; the message names file, line and item."""


class TemplateError(MsmvpError):
    """A template that failed to render (a bug in msmvp or in a custom template)."""

    default_hint = "run again with --debug and report the traceback"


class GitError(MsmvpError):
    """Git is missing or a git operation failed."""

    default_hint = "install git, or pass --no-git"


class DirtyTreeError(MsmvpError):
    """The project's git tree has uncommitted changes."""

    default_hint = "commit or stash your changes first, or pass --allow-dirty"


class ServiceExistsError(MsmvpError):
    """add-service with a name the project already has."""


class UnknownServiceError(MsmvpError):
    """A service name the project does not have."""


class ServiceInUseError(MsmvpError):
    """remove-service of a service other services call."""


class UnknownItemError(MsmvpError):
    """A checklist item id (``msmvp status --explain``, ``msmvp attest``) that the checklist lacks."""

    default_hint = "list the items with `msmvp checklist show`"


class AttestationInputError(MsmvpError):
    """``msmvp attest`` arguments that cannot be recorded: an empty name or note, a bad date."""


class AttestationsFileError(MsmvpError):
    """A malformed ``.msmvp/attestations.yaml``; the message names file and line."""

    default_hint = "fix the file by hand (see docs/status.md), or delete the broken entry and attest again"


class ReportWriteError(MsmvpError):
    """The report file given with ``--output`` cannot be written."""

    default_hint = "check that the directory exists and is writable"


class Interrupted(MsmvpError):
    """Ctrl-C before msmvp's point of no return: everything was rolled back."""

    exit_code = 130


class BusyError(MsmvpError):
    """Another msmvp is changing the same project."""


class NothingToResolveError(MsmvpError):
    """``msmvp resolve`` of a path msmvp has no pending decision about."""

    default_hint = "run it on a path an earlier run listed as a conflict"


class OptionProblemsError(MsmvpError):
    """Option values that cannot be generated together: every problem at once, each with a hint."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(m for m, _ in problems), problems[0][1] if len(problems) == 1 else "")
        self.problems = problems


class MatrixSelectionError(MsmvpError):
    """A combination-matrix selection, axis or shard that does not exist (msmvp's own CI)."""
