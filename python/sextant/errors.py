"""Sextant's exceptions, one class per error code of the C++ API and the HTTP API.

Bad input is a ``ValueError`` (``InvalidArgumentError``, ``OutOfRangeError``); a missing
collection, id or snapshot is a ``NotFoundError`` (also a ``ValueError``, as older Chroma code
expects from ``get_collection``). The message is the C++ ``Status``'s (or the server's) unchanged.
"""


class SextantError(Exception):
    """Base class of every error Sextant raises. ``code`` is the error's stable name."""

    code = "unknown"


class InvalidArgumentError(SextantError, ValueError):
    code = "invalid_argument"


class OutOfRangeError(SextantError, ValueError):
    code = "out_of_range"


class NotFoundError(SextantError, ValueError):
    code = "not_found"


class AlreadyExistsError(SextantError, ValueError):
    code = "already_exists"


class DuplicateIDError(InvalidArgumentError):
    """The same id twice in one call (Chroma's name)."""


class FailedPreconditionError(SextantError):
    code = "failed_precondition"


class CorruptionError(SextantError):
    code = "corruption"


class StorageIOError(SextantError, OSError):
    code = "io_error"


class ResourceExhaustedError(SextantError):
    code = "resource_exhausted"


class InternalError(SextantError):
    code = "internal"


class DeadlineExceededError(SextantError, TimeoutError):
    code = "deadline_exceeded"


class AuthenticationError(SextantError):
    """HTTP 401: a missing, unknown or revoked API key."""

    code = "unauthenticated"


class AuthorizationError(SextantError):
    """HTTP 403: the key's role or scope does not allow the call."""

    code = "permission_denied"


class UnavailableError(SextantError):
    """The server is overloaded (429/503) or cannot be reached."""

    code = "unavailable"


_BY_CODE = {
    cls.code: cls
    for cls in (InvalidArgumentError, OutOfRangeError, NotFoundError, AlreadyExistsError,
                FailedPreconditionError, CorruptionError, StorageIOError, ResourceExhaustedError,
                InternalError, DeadlineExceededError, AuthenticationError, AuthorizationError,
                UnavailableError)
}
# The server's own codes for errors found before a request reaches the database.
_BY_CODE.update({
    "bad_request": InvalidArgumentError,
    "payload_too_large": InvalidArgumentError,
    "method_not_allowed": InvalidArgumentError,
    "too_many_requests": UnavailableError,
    "request_timeout": DeadlineExceededError,
})


def error_class(code):
    """The exception class for an error code ("invalid_argument", "not_found", ...)."""
    return _BY_CODE.get(code, SextantError)
