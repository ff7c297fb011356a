"""Exceptions raised by the library.

Every error a user can cause (a bad file, a bad option, an unusable configuration) is a
``TracelabError`` whose message is one line naming the file, row, field or value and how
to fix it. The CLI prints it as ``Error: <message>`` and exits 2. Anything else is a bug.
"""

from __future__ import annotations


class TracelabError(Exception):
    """Base class for every error caused by the user's input."""


class InputFileError(TracelabError):
    """A trace file cannot be read: unreadable, unknown format, malformed, columns missing."""


class RejectedRowsError(TracelabError):
    """``--strict`` was given and at least one row was rejected."""


class ConfigError(TracelabError):
    """A configuration file or option (thresholds, catalog, profile, price, SLO) is unusable."""


class InfeasibleError(TracelabError):
    """No device in the catalog can serve a workload class under its SLOs."""


class DatabaseError(TracelabError):
    """A database cannot be read: the server is down, the login refused, a table or column missing."""
