"""Descope management-API simulator: a seeded world and a real HTTP server over it.

See :mod:`descope_sim.server` for the API semantics it implements and the
choices it makes where Descope's documentation is silent or disagrees (:class:`Dialect`
picks the reading where Descope's own sources disagree). The world is a facade
(:mod:`.world`) over :mod:`.generate`, :mod:`.store`, :mod:`.mutate` and :mod:`.truth`.
"""

from .dialect import Dialect
from .licence import Licence
from .server import ChaosConfig, RateLimits, Simulator, serve
from .world import World

__all__ = ["ChaosConfig", "Dialect", "Licence", "RateLimits", "Simulator", "World", "serve"]
