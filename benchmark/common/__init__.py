"""Small shared helpers: atomic writes, the cache folder, file hashing, natural order, packaged tables, provenance."""
