"""Errors a user can act on: each names what is wrong and how to fix it."""


class SslpipeError(Exception):
    """Base of every error the command line reports without a traceback."""


class ConfigError(SslpipeError):
    """A parameter in params.yaml is unknown, missing or out of range."""

    def __init__(self, key: str, problem: str, fix: str = ""):
        self.key, self.problem, self.fix = key, problem, fix
        msg = f"params.yaml: {key}: {problem}"
        if fix:
            msg += f" Fix: {fix}"
        super().__init__(msg)


class DataError(SslpipeError):
    """A shard, manifest or data source is missing, corrupted or inconsistent."""
