"""CMS enveloping (bid encryption/decryption): streaming BER reader, decryptor, encryptor, helpers."""
