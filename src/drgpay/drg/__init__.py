"""CHS-DRG: compiled definitions, the vectorised engine, the per-record reference grouper and explain."""
