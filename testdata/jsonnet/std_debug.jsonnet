// Debugging helpers: std.trace returns its second argument; std.assertEqual returns true.
{
  trace_value: std.trace('corpus trace message', { passed: 'through' }),
  trace_in_expression: 1 + std.trace('adding', 2),
  assert_equal: std.assertEqual({ a: [1, 2] }, { a: [1] + [2] }),
  assert_equal_strings: std.assertEqual('x', 'x'),
}
