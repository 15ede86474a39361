"""Tree-sitter grammars: languageId registry, span queries, token-to-syntax-unit alignment."""
