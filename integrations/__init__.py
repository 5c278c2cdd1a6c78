"""The integrations this Integrator runs, by name, in the order their tabs appear.

An explicit registry, not discovery: dynamic imports break inside a frozen executable.
"""

from halointegrator.engine.model import Integration
from integrations import active_directory
from integrations import entra as azure_ad
from integrations import powershell
from integrations.sql import declarations as sql

REGISTRY: dict[str, Integration] = {
    active_directory.INTEGRATION.name: active_directory.INTEGRATION,
    azure_ad.INTEGRATION.name: azure_ad.INTEGRATION,
    **{integration.name: integration for integration in sql.INTEGRATIONS},
    powershell.INTEGRATION.name: powershell.INTEGRATION,
}
