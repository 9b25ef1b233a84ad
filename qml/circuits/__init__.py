"""Circuits: the serialized format, the compiler and the gate table."""
