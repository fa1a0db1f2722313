"""The decision engine's public interface; nothing else in the project imports oso."""
from .engine import Decision, Engine, PolicyError, allowed_actions, decide, get_engine
from .refs import Ref, RefError, parse_ref

__all__ = ["Decision", "Engine", "PolicyError", "allowed_actions", "decide", "get_engine",
           "Ref", "RefError", "parse_ref"]
