"""Examples shipped with Sceau: the demo procurement platform (`examples.platform`)."""
