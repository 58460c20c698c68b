"""Monitoring: the engine, reference profiles, p-value correction, model loading, the
scheduler, retention."""
