"""One module per CLI verb; each defines ``register(app)`` and keeps heavy imports inside."""
