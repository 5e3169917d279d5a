"""ee-builder: compose, build and inspect AWX Execution Environments."""
