"""Sub-commands of the ``painterly`` CLI, one module per command group."""
