"""The engine's exceptions: every failure a caller can act on has its own class."""


class KaoheError(Exception):
    """Base class; ``code`` is the stable name the web layer puts in JSON errors."""

    code = "error"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class BundleError(KaoheError):
    """A process bundle cannot be deployed; names the file, the line and the element."""

    code = "invalid_bundle"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 element: str | None = None):
        where = ":".join(str(p) for p in (file, line) if p is not None)
        if element:
            where = f"{where} [{element}]" if where else f"[{element}]"
        super().__init__(f"{where}: {message}" if where else message,
                         file=file, line=line, element=element)
        self.file, self.line, self.element = file, line, element


class ForbiddenCode(BundleError):
    """An expression or script uses something outside the sandbox's allow-list."""

    code = "forbidden_code"


class ExpressionError(KaoheError):
    """An expression failed while the process ran (a bad value, a missing variable)."""

    code = "expression_error"


class RunFailed(ExpressionError):
    """Running an instance failed; its transaction rolled back and an incident records it."""

    def __init__(self, message: str, *, instance_id: int, kind: str, bpmn_id: str | None = None,
                 element: str | None = None, error: str = ""):
        super().__init__(message)
        self.instance_id, self.kind, self.bpmn_id, self.element = instance_id, kind, bpmn_id, element
        self.error = error or message


class HeldUp(KaoheError):
    """The step cannot be done now: its instance has an incident, and the administrators have been told."""

    code = "held_up"


class NotFound(KaoheError):
    """An instance, task, campaign, version or user that does not exist."""

    code = "not_found"


class ValidationError(KaoheError):
    """Submitted data fails its form's schema or the scoring scheme; ``errors`` lists the fields."""

    code = "invalid_data"

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message, errors=errors or [])
        self.errors = errors or []


class PermissionDenied(KaoheError):
    """The user does not hold the task's role in the task's region."""

    code = "forbidden"


class Conflict(KaoheError):
    """Somebody else changed the instance first: the task is no longer ready, or the instance is busy."""

    code = "conflict"


class StaleDraft(Conflict):
    """A draft of the library was saved by somebody else after the copy being saved was read."""

    code = "stale_draft"

    def __init__(self, message: str, *, saved_by: str | None, saved_at, revision: int):
        super().__init__(message)
        self.details.update(saved_by=saved_by, saved_at=saved_at, revision=revision)
        self.saved_by, self.saved_at, self.revision = saved_by, saved_at, revision
