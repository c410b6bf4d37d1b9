// Expressions: conditionals, arithmetic, bitwise, logic, assert, error laziness, precedence.
local dollarObj = { a: 1, b: { c: $.a } };
local ok = assert 1 + 1 == 2 : 'math broke'; 'assert passed';
{
  if_else: [if 1 < 2 then 'yes' else 'no', if false then 1 else 2],
  if_without_else: if false then 'x',
  arithmetic: [1 + 2 * 3, (1 + 2) * 3, 7 / 2, 7 % 3, -7 % 3, 7 % -3, 5.5 % 2, 2 - -3, -(-4)],
  float_values: [0.1 + 0.2, 1e3, 1.5e-3, 1 / 3, 2.0, 100000000000000000000, 0.000001],
  integer_results: [4 / 2, 1e2, 3 * 1.0],
  bitwise: [5 & 3, 5 | 3, 5 ^ 3, ~5, 1 << 10, 1024 >> 3, -16 >> 2],
  logic: [true && false, true || false, !true, false || !false],
  short_circuit: [false && error 'not evaluated', true || error 'not evaluated'],
  comparison: [1 < 2, 2 <= 2, 3 > 4, 4 >= 4, 1 == 1.0, 'a' != 'a'],
  equality_types: [null == null, 1 == '1', [] == {}, true == true],
  precedence: [1 + 2 == 3 && 2 * 2 == 4, 2 | 1 & 0, 1 + 2 << 1, !false == true],
  assert_expr: ok,
  assert_no_message: assert true; 'fine',
  error_in_unused_field: std.length({ bad: error 'unused', good: 1 }),
  error_in_hidden_field: { bad:: error 'hidden never manifested', good: 1 },
  local_shadowing: local x = 1; local y = local x = 2; x; [x, y],
  null_value: null,
  booleans: [true, false],
  big_and_negative: [-0, -1.5, 9007199254740992, -9007199254740991],
  string_multiply_via_join: std.join('', std.makeArray(3, function(_) 'ab')),
  modulo_string_format: '%d%%' % 50,
  object_apply_on_expression: (local o = { a: 1 }; o { b: 2 }),
  dollar_in_local_object: dollarObj.b,
}
