"""The errors the Integrator expects, each with the exit code AUTO returns for it.

An ``IntegratorError`` is shown to the user as its message alone (no traceback): the message must say
what is wrong and how to fix it, and must never contain a secret. Anything else is a bug: logged with
its traceback, exit code 4.
"""

EXIT_OK = 0
EXIT_INTEGRATION_FAILED = 1
EXIT_CONFIG = 2
EXIT_BUSY = 3
EXIT_INTERNAL = 4


class IntegratorError(Exception):
    """An expected failure with a message meant for the user."""

    exit_code = EXIT_INTEGRATION_FAILED


class ConfigError(IntegratorError):
    """Local configuration missing, invalid or unreadable (the fix is in the Configuration tab)."""

    exit_code = EXIT_CONFIG


class AuthError(IntegratorError):
    """Halo refused our credentials (wrong client id, secret or tenant)."""

    exit_code = EXIT_CONFIG


class HaloError(IntegratorError):
    """Halo answered with an error, or with something that is not Halo's JSON."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class RetriableError(HaloError):
    """A transient failure (429, 502-504, connection reset, timeout) that may succeed if repeated."""


class SourceError(IntegratorError):
    """The source (LDAP, Microsoft Graph) could not be read completely; nothing is written."""


class LockBusy(IntegratorError):
    """Another run holds the run lock."""

    exit_code = EXIT_BUSY


class Cancelled(IntegratorError):
    """The user pressed Stop; the run ended between batches."""
