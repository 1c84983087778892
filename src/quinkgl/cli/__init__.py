"""The ``quinkgl`` command: one module per subcommand; the only place that configures logging."""
