"""ASDL grammar files shipped with tranx, loaded by name with `tranx.asdl.load_grammar`."""
