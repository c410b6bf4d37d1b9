// String manipulation added after C++ jsonnet 0.18 (0.19-0.21).
{
  split_multichar_separator: [std.split('a::b::c', '::'), std.split('x--y', '--')],
  split_limit_r: [std.splitLimitR('a,b,c,d', ',', 2), std.splitLimitR('a,b,c', ',', -1), std.splitLimitR('a.b.c', '.', 1)],
  is_empty: [std.isEmpty(''), std.isEmpty(' '), std.isEmpty('x')],
  trim: [std.trim('  padded \t\n'), std.trim(''), std.trim('inner  space')],
  equals_ignore_case: [std.equalsIgnoreCase('Hello', 'hELLO'), std.equalsIgnoreCase('a', 'b')],
}
