"""Jobs that chain the stages: sync (export -> encode -> train -> predict -> publish -> report)."""
