; Syntax units that become uncertain spans (Go).
[(identifier) (field_identifier) (type_identifier) (package_identifier)] @identifier
[(selector_expression) (qualified_type)] @identifier
[(interpreted_string_literal) (raw_string_literal) (rune_literal) (int_literal)
 (float_literal) (true) (false) (nil)] @literal
[(call_expression) (index_expression)] @call
(argument_list (_) @argument)
(parameter_list (_) @argument)
(binary_expression operator: _ @operator)
(unary_expression operator: _ @operator)
(assignment_statement operator: _ @operator)
(if_statement condition: (_) @condition)
(for_clause condition: (_) @condition)
[(expression_statement) (return_statement) (short_var_declaration) (assignment_statement)
 (var_declaration) (inc_statement) (dec_statement) (go_statement) (defer_statement)
 (import_declaration) (break_statement) (continue_statement)] @statement

; Comments: scored, but a scan does not flag prose (docs/ENGINE_API.md).
(comment) @comment
