"""The Descope management-API simulator, for development and tests (never uploaded with the function).

A seeded :class:`World` and a real HTTP server over it (:class:`Simulator`). What it serves, and the
choices it makes where Descope's documentation is silent or disagrees: docs/simulator.md.
"""

from .chaos import ChaosConfig
from .dialect import Dialect
from .foreground import serve
from .licence import Licence
from .limits import RateLimits
from .server import Simulator
from .world import World

__all__ = ["ChaosConfig", "Dialect", "Licence", "RateLimits", "Simulator", "World", "serve"]
