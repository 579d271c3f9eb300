"""The engine protocol over a Ray cluster: shard-group actors, exact fan-out, faults,
and the index build as Ray tasks. Only this package (and tests/cluster) imports ray."""
