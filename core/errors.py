"""Exceptions whose message is shown to the user as-is (CLI exit, UI toast).

Each message is one line that says what went wrong and what to do.
"""


class DocqaError(Exception):
    """Base class: an error a user can act on."""


class ConfigError(DocqaError):
    """The settings file or DOCQA_* environment is invalid."""


class IndexMissingError(DocqaError):
    """No index exists yet."""


class ModelMismatchError(DocqaError):
    """The index was built with a different embedding model."""


class IndexLayoutError(DocqaError):
    """The index was written in an older storage layout (``docqa ingest`` converts it)."""


class StoreUnavailableError(DocqaError):
    """The Chroma server cannot be reached."""


class IndexBusyError(DocqaError):
    """Another writer holds the index's writer lock (and the caller chose not to wait)."""


class InputError(DocqaError):
    """A question, file or eval set the user gave cannot be used."""


class LLMUnavailableError(DocqaError):
    """The configured LLM endpoint is down, slow or misconfigured."""
