"""The framework: plugin system, contracts, configuration, monitoring, alerting, serving.

Plugins import the public surface (``driftscope``), never these modules directly.
"""
