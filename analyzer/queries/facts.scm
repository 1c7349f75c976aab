; Every node the extractor reads, found in one pass of the query cursor.
; Captures are grouped by kind; extract.py sorts each list by byte offset and
; attributes nested ones (calls, declarations, assignments) to the enclosing
; function by byte range.

(function_definition) @function
(call_expression) @call
(declaration) @declaration
(type_definition) @typedef
(struct_specifier body: (field_declaration_list)) @struct
(union_specifier body: (field_declaration_list)) @struct
(enum_specifier body: (enumerator_list)) @enum
(preproc_def name: (identifier) @define.name value: (preproc_arg) @define.value)

; x->f = fn;  x.f = &fn;  x->f = p ?: fn;  x->f = cfg->g;
(assignment_expression
  left: (field_expression)
  right: [(identifier) (pointer_expression argument: (identifier))
          (conditional_expression) (field_expression)]) @field_assign

; q = table;  (a local bound to a global, for registrations through it)
; fn = ops->f;  (a function-pointer local given a value)
(assignment_expression
  left: (identifier)
  right: [(identifier) (field_expression) (call_expression) (conditional_expression)
          (parenthesized_expression) (subscript_expression) (cast_expression)
          (pointer_expression)]) @var_assign
