"""The integrations this Integrator runs, by name.

An explicit registry, not discovery: dynamic imports break inside a frozen executable.
"""

from halointegrator.model import Integration

REGISTRY: dict[str, Integration] = {}
