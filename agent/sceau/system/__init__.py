"""Integration with the operating system: start with the session, diagnosis (`sceau doctor`)."""
