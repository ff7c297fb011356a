"""Exceptions raised by the library.

Every error a user can cause (a bad file, a bad option, an unusable configuration) is a
``TracelabError`` whose message is one line naming the file, row, field or value. The
message states facts in the library's own terms (parameter names, file names, values);
advice phrased for one front end (a CLI flag to pass) goes in ``hint``, which that front
end renders: the CLI prints ``Error: <message> (<hint>)`` and exits 2. Anything else is a
bug.
"""

from __future__ import annotations


class TracelabError(Exception):
    """Base class for every error caused by the user's input.

    ``param``: the library option (``PipelineOptions`` field or keyword argument) whose value
    the fix involves, if any: a front end turns it into its own advice (the CLI's boundary
    names the flag). ``hint``: how to fix it in the words of that front end, set by it
    (never by library code); None until then.
    """

    def __init__(self, message: str, *, param: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.hint = hint

    def __reduce__(self) -> tuple[object, ...]:
        # Errors raised on a Dask worker travel back pickled: keep param and hint.
        return (_rebuild, (type(self), str(self), self.param, self.hint))


def _rebuild(cls: type[TracelabError], message: str, param: str | None,
             hint: str | None) -> TracelabError:
    error = cls.__new__(cls)
    TracelabError.__init__(error, message, param=param, hint=hint)
    return error


class InputFileError(TracelabError):
    """A trace file cannot be read: unreadable, unknown format, malformed, columns missing."""


class RejectedRowsError(TracelabError):
    """Strict reading was asked for and at least one row was rejected."""


class ConfigError(TracelabError):
    """A configuration file or option (thresholds, catalog, profile, price, SLO) is unusable."""


class ParamError(ConfigError):
    """An option's value breaks its declared constraint (``tracelab.validation``).

    ``param`` is the option's library name (``window_s``), ``value`` what was given and
    ``reason`` what is wrong with it; the message is ``TEMPLATE`` filled with the three, so
    a front end can render the same sentence with its own spelling of the option's name.
    """

    TEMPLATE = "{param} {value!r}: {reason}"

    def __init__(self, *, param: str, value: object, reason: str,
                 hint: str | None = None) -> None:
        super().__init__(self.TEMPLATE.format(param=param, value=value, reason=reason),
                         param=param, hint=hint)
        self.value = value
        self.reason = reason

    def render(self, name: str) -> str:
        """The message with the option spelled ``name`` (e.g. a CLI flag)."""
        return self.TEMPLATE.format(param=name, value=self.value, reason=self.reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_param, (type(self), self.param, self.value, self.reason, self.hint))


def _rebuild_param(cls: type[ParamError], param: str, value: object, reason: str,
                   hint: str | None) -> ParamError:
    return cls(param=param, value=value, reason=reason, hint=hint)


class InfeasibleError(TracelabError):
    """No device in the catalog can serve a workload class under its SLOs."""


class DatabaseError(TracelabError):
    """A database cannot be read: the server is down, the login refused, a table or column missing."""
