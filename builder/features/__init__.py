"""Features composed around the user definition; each module has one ``apply(comp, ...)``."""
