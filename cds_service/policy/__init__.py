"""What a policy is, how its revisions are loaded from data, and which revision applies on a date."""
from .library import PolicyLibrary
from .loader import PolicyDataError
from .model import Criterion, Revision
from .valuesets import ValueSets

__all__ = ["Criterion", "PolicyDataError", "PolicyLibrary", "Revision", "ValueSets"]
