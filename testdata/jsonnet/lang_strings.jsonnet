// Strings: escapes, verbatim strings, text blocks, % formatting, concatenation with values.
{
  escapes: 'tab\there\nnewline \'single\' "double" back\\slash \u00e9 \u2603',
  dq_escapes: "q: \" bs: \b ff: \f cr: \r",
  verbatim_single: @'no \n escape, only '' doubled',
  verbatim_double: @"C:\path\to ""file""",
  text_block: |||
    line one
      indented line
    line three
  |||,
  text_block_chomped: |||-
    no trailing newline
    here
  |||,
  text_block_in_object: { v: |||
    inside
  ||| },
  percent_single: 'hello %s' % 'world',
  percent_array: '%s has %d items costing %.2f' % ['cart', 3, 9.5],
  percent_object: '%(name)s is %(age)d' % { name: 'Ann', age: 33 },
  concat_number: 'n=' + 5,
  concat_bool: 'b=' + true,
  concat_null: 'z=' + null,
  concat_array: 'a=' + [1, 'x'],
  concat_object: 'o=' + { k: 'v' },
  number_plus_string: 1 + 'x',
  unicode_length: std.length('h\u00e9llo \u2603'),
  unicode_index: 'h\u00e9llo'[1],
  multi_line_concat: 'a' +
                     'b',
  string_equality: ['a' == 'a', 'a' != 'b', '' == ''],
  string_in_array: std.member(['a', 'b'], 'b'),
}
