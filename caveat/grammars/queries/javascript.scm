; Syntax units that become uncertain spans (JavaScript, also used for JSX).
[(identifier) (property_identifier) (shorthand_property_identifier)
 (private_property_identifier)] @identifier
(member_expression) @identifier
[(string) (template_string) (number) (true) (false) (null) (undefined) (regex)] @literal
[(call_expression) (new_expression) (subscript_expression)] @call
(arguments (_) @argument)
(formal_parameters (_) @argument)
(binary_expression operator: _ @operator)
(unary_expression operator: _ @operator)
(update_expression operator: _ @operator)
(augmented_assignment_expression operator: _ @operator)
(if_statement condition: (_) @condition)
(while_statement condition: (_) @condition)
(for_statement condition: (_) @condition)
(ternary_expression) @condition
[(expression_statement) (return_statement) (lexical_declaration) (variable_declaration)
 (throw_statement) (break_statement) (continue_statement) (import_statement)] @statement

; Comments: scored, but a scan does not flag prose (docs/ENGINE_API.md).
(comment) @comment
