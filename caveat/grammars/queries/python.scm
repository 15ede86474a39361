; Syntax units that become uncertain spans. Capture names are the span kinds; a token is
; attributed to the smallest captured node that encloses it.
(identifier) @identifier
(attribute) @identifier
(keyword_argument name: (identifier) @identifier)
[(string) (concatenated_string) (integer) (float) (true) (false) (none)] @literal
(call) @call
(argument_list (_) @argument)
(parameters (_) @argument)
(binary_operator operator: _ @operator)
(comparison_operator operators: _ @operator)
(boolean_operator operator: _ @operator)
(not_operator "not" @operator)
(unary_operator operator: _ @operator)
(augmented_assignment operator: _ @operator)
(subscript) @call
(if_statement condition: (_) @condition)
(elif_clause condition: (_) @condition)
(while_statement condition: (_) @condition)
(conditional_expression) @condition
[(expression_statement) (return_statement) (assert_statement) (raise_statement)
 (import_statement) (import_from_statement) (pass_statement) (break_statement)
 (continue_statement) (delete_statement) (global_statement) (nonlocal_statement)] @statement

; Comments and docstrings: scored, but a scan does not flag prose (docs/ENGINE_API.md).
(comment) @comment
(module . (expression_statement (string) @comment))
(block . (expression_statement (string) @comment))
