"""The bundled demo: its model, the traffic simulator, and the runner that starts it all."""
