"""``python -m pipelines.cli`` (tests run the CLI as a separate process this way)."""

from pipelines.cli import main

main()
