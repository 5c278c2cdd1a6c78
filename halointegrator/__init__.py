"""Halo Integrator: imports users and devices from on-premise and Microsoft sources into Halo."""

__version__ = "1.1.0"
PRODUCT_NAME = "Halo Integrator"
