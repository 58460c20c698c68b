"""The ``driftscope`` command, one module per command group."""
