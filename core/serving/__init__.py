"""Serving: row validation, the prediction service, the prediction log writer, and metrics."""
