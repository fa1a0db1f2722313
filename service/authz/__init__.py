"""The decision engine's public interface; nothing else in the project imports oso."""
from .active_policy import ActiveEngine, decide, get_engine
from .engine import Decision, Engine, PolicyError
from .refs import Ref, RefError, parse_ref

__all__ = ["ActiveEngine", "Decision", "Engine", "PolicyError", "decide", "get_engine",
           "Ref", "RefError", "parse_ref"]
