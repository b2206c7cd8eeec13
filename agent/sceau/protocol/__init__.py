"""Sans-I/O protocol core: messages, framing, validation, error codes. No I/O imports here."""
