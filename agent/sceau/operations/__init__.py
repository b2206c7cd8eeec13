"""One handler per wire command, selected from a registry (web-eid-app style)."""
