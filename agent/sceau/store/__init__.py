"""What the agent keeps on disk: trusted sites, remembered authentications, preferences, the journal,
chunked transfers, and the one atomic-write + file-lock helper they share (`files`)."""
