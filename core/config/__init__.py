"""Configuration: the YAML file (what to monitor) and the environment settings (where this
process runs)."""
