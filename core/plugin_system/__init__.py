"""The plugin system: hook specifications, registration records, the plugin manager."""
