; Syntax units that become uncertain spans (C++).
[(identifier) (field_identifier) (type_identifier) (primitive_type) (namespace_identifier)] @identifier
[(field_expression) (qualified_identifier)] @identifier
[(string_literal) (raw_string_literal) (char_literal) (number_literal) (true) (false)
 (null)] @literal
[(call_expression) (subscript_expression) (new_expression)] @call
(argument_list (_) @argument)
(parameter_list (_) @argument)
(binary_expression operator: _ @operator)
(unary_expression operator: _ @operator)
(update_expression operator: _ @operator)
(assignment_expression operator: _ @operator)
(if_statement condition: (_) @condition)
(while_statement condition: (_) @condition)
(for_statement condition: (_) @condition)
(conditional_expression) @condition
[(expression_statement) (return_statement) (declaration) (break_statement)
 (continue_statement) (preproc_include)] @statement

; Comments: scored, but a scan does not flag prose (docs/ENGINE_API.md).
(comment) @comment
