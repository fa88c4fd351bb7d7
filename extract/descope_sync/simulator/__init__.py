"""Descope management-API simulator: a seeded world and a real HTTP server over it.

See :mod:`descope_sync.simulator.server` for the API semantics it implements and the
choices it makes where Descope's documentation is silent or disagrees.
"""

from .server import ChaosConfig, RateLimits, Simulator, serve
from .world import World

__all__ = ["ChaosConfig", "RateLimits", "Simulator", "World", "serve"]
