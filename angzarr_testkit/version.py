"""The kit's version (its own module, so that nothing inside the kit imports the facade)."""

__version__ = "0.1.0"
