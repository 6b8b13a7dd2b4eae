"""From delivered rows to persons: staging (rendered SQL layers), linkage, households."""
