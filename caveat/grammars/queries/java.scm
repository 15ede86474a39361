; Syntax units that become uncertain spans (Java).
[(identifier) (type_identifier) (integral_type) (floating_point_type) (boolean_type)] @identifier
(field_access) @identifier
[(string_literal) (character_literal) (decimal_integer_literal) (hex_integer_literal)
 (decimal_floating_point_literal) (true) (false) (null_literal)] @literal
[(method_invocation) (object_creation_expression) (array_access)] @call
(argument_list (_) @argument)
(formal_parameters (_) @argument)
(binary_expression operator: _ @operator)
(unary_expression operator: _ @operator)
(update_expression) @operator
(assignment_expression operator: _ @operator)
(if_statement condition: (_) @condition)
(while_statement condition: (_) @condition)
(for_statement condition: (_) @condition)
(ternary_expression) @condition
[(expression_statement) (return_statement) (local_variable_declaration) (throw_statement)
 (break_statement) (continue_statement) (import_declaration)] @statement

; Comments: scored, but a scan does not flag prose (docs/ENGINE_API.md).
[(line_comment) (block_comment)] @comment
