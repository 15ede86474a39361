; Syntax units that become uncertain spans (Rust).
[(identifier) (field_identifier) (type_identifier) (primitive_type)] @identifier
[(field_expression) (scoped_identifier)] @identifier
[(string_literal) (raw_string_literal) (char_literal) (integer_literal) (float_literal)
 (boolean_literal)] @literal
[(call_expression) (macro_invocation) (index_expression)] @call
(arguments (_) @argument)
(parameters (_) @argument)
(binary_expression operator: _ @operator)
(unary_expression) @operator
(compound_assignment_expr operator: _ @operator)
(if_expression condition: (_) @condition)
(while_expression condition: (_) @condition)
[(expression_statement) (let_declaration) (return_expression) (use_declaration)] @statement

; Comments: scored, but a scan does not flag prose (docs/ENGINE_API.md).
[(line_comment) (block_comment)] @comment
