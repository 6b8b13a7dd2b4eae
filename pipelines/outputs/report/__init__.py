"""The monthly low-income population monitoring report: its model, the figures it reads, its rendering."""
