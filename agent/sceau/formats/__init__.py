"""Signature formats (CAdES, XAdES, PAdES, PES V2), RFC 3161 time-stamps and local verification."""
