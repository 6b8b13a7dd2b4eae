"""Shared contracts of the night: errors, text guards, dates, ID numbers, feeds, the warehouse
connection, incremental builds and schema migrations."""
