"""Running the night: its steps (one list for the CLI, the DAG and the tests), partitions, counties."""
