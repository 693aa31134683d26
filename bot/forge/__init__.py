"""Forge adapters: one per forge kind, all behind the `Forge` protocol."""
