"""The bundled demo: a classifier trained on data that ships inside scikit-learn."""
