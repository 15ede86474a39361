"""What a document knows, without LSP: provenance of accepted text, typed-ahead offers, and a
completion or a scan turned into spans with one list of alternatives.

Every surface that shows a span (diagnostic, hover, code action, `caveat scan`, `caveat
complete --json`) asks this layer, so they all say the same thing. It imports the engine,
scoring and grammars, never the server.
"""
