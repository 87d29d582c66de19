"""Errors sizer reports to users as one line (the CLI maps each to exit code 2)."""


class SizerError(Exception):
    """Base of every error caused by the user's input or data: shown as one line, exit code 2."""


class UnknownIdError(SizerError, LookupError):
    """A catalog id or alias that matches nothing."""


class DataFileError(SizerError):
    """A data file (catalog, machine JSON, config.json) that cannot be read or does not validate."""


class UnsupportedError(SizerError):
    """An input sizer understands but cannot size: an architecture, quant type or engine combination."""


class InvalidInputError(SizerError, ValueError):
    """A value out of range or malformed: context size, hardware spec, GGUF header."""
