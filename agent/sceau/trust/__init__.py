"""EU trusted lists (ETSI TS 119 612): fetch, verify, cache, and the trust decisions they give."""
