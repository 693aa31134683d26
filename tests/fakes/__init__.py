"""Fake executables and helpers for the engine tests."""
