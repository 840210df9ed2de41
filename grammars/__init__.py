"""ASDL grammar files shipped with tranx, loaded by name with `tranx.grammar.asdl.load_grammar`."""
