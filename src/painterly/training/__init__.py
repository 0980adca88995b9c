"""Training loops for the networks painterly ships: one shared machinery (``loop``), one objective per method."""
