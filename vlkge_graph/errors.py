"""One exception family, so the CLI can print a clean message instead of a traceback."""

from __future__ import annotations


class VlkgeError(Exception):
    """An error the user can act on; its message names the culprit (file, line, key, node id)."""


class ConfigError(VlkgeError):
    """A configuration or recipe file is wrong."""


class DataError(VlkgeError):
    """Input data is malformed or inconsistent."""


class SourceMissingError(VlkgeError):
    """A dataset's source files are absent; the message says how to obtain them."""


class Neo4jServerError(VlkgeError):
    """The local Neo4j server could not be obtained, started or stopped."""


class ReportError(VlkgeError):
    """A run's report could not be written; what the run published stands."""


class DataWarning(UserWarning):
    """Input was usable but lost or changed something (images dropped, ids stripped); the message says what
    and where."""


class Interrupted(VlkgeError):
    """Work stopped on request (e.g. SIGTERM) between two steps; what it finished is kept and it resumes."""
