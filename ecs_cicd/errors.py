"""The one error hierarchy of ecs_cicd, and the exit code each error maps to.

Every error a user sees is one line naming what was being done, to which resource, what AWS (or
the config) said, and where one exists, the fix.
"""

from __future__ import annotations


class EcsCicdError(Exception):
    """Base of every error ecs_cicd raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} — {self.hint}"
        return self.message


class ConfigError(EcsCicdError):
    """The config (or an input file it names) is invalid. Raised before any AWS call."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        if field:
            message = f"{field}: {message}"
        super().__init__(message, hint=hint)
        self.field = field


class ConfigErrors(ConfigError):
    """Every problem of a config at once (`validate` shows them all). Printed one per line; the
    first one's field is `field`, so a caller that expects one ConfigError still sees one."""

    def __init__(self, problems: list[ConfigError]) -> None:
        if not problems:
            raise ValueError("ConfigErrors needs at least one problem")
        first = problems[0]
        super().__init__(first.message, hint=first.hint)
        self.field = first.field
        self.problems = list(problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def raise_all(problems: list[ConfigError]) -> None:
    """Raise the problems found: nothing, the one ConfigError, or ConfigErrors."""
    flat: list[ConfigError] = []
    for p in problems:
        flat.extend(p.problems if isinstance(p, ConfigErrors) else [p])
    if len(flat) == 1:
        raise flat[0]
    if flat:
        raise ConfigErrors(flat)


class UsageError(EcsCicdError):
    """The command line is wrong (missing flag, file exists without --force...)."""

    exit_code = 2


class AwsError(EcsCicdError):
    """AWS refused a call. Names the action, the resource and AWS's error code."""

    exit_code = 1

    def __init__(
        self,
        action: str,
        resource: str,
        code: str,
        aws_message: str,
        *,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            f"{action} {resource}: AWS said {code}: {aws_message}".rstrip(": "), hint=hint
        )
        self.action = action
        self.resource = resource
        self.code = code
        self.aws_message = aws_message


class WaitTimeout(EcsCicdError):
    """A wait passed its deadline without reaching the wanted state."""

    exit_code = 1


class DeploymentFailed(EcsCicdError):
    """A service deployment or pipeline execution reached a terminal failure."""

    exit_code = 1


class StateError(EcsCicdError):
    """The state file is corrupt, of an unknown schema version, or for another stack."""

    exit_code = 1


class StackLocked(EcsCicdError):
    """Another ecs_cicd process holds the lock of this stack."""

    exit_code = 3


class MissingExtra(EcsCicdError, ImportError):
    """A feature needs an optional extra that is not installed (``pip install 'ecs_cicd[X]'``)."""

    exit_code = 2

    def __init__(self, feature: str, extra: str, missing: list[str]) -> None:
        super().__init__(
            f"{feature} needs the optional extra {extra!r} (missing: {', '.join(missing)})",
            hint=f"install it with: pip install 'ecs_cicd[{extra}]'",
        )
        self.feature = feature
        self.extra = extra
        self.missing = missing
