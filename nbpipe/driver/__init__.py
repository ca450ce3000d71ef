"""The driver: one run composed from the engine, an executor and the state store (``run.execute``)."""
