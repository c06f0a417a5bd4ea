"""Small shared helpers: atomic writes, the cache folder, file hashing, provenance."""
