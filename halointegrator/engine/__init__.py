"""The pipeline every integration runs through: model, planning, applying, status, runner."""

from halointegrator.engine.applying import CHANGE, MAX_RECORD_ERRORS, apply, is_record_error
from halointegrator.engine.planning import Policy, plan

__all__ = ["CHANGE", "MAX_RECORD_ERRORS", "Policy", "apply", "is_record_error", "plan"]
