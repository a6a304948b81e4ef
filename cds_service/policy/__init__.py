"""What a policy is, how its revisions are loaded from data, and which revision applies on a date."""
from cds_service.policy.errors import PolicyDataError
from cds_service.policy.library import PolicyLibrary
from cds_service.policy.model import Criterion, Revision
from cds_service.policy.valuesets import ValueSets

__all__ = ["Criterion", "PolicyDataError", "PolicyLibrary", "Revision", "ValueSets"]
