// Arrays and strings as sequences: comprehensions, slices, indexing, concatenation, comparison.
local xs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
local s = 'abcdefghij';
{
  comprehension: [x * 2 for x in xs],
  comprehension_if: [x for x in xs if x % 3 == 0],
  comprehension_nested: [[a, b] for a in [1, 2] for b in ['x', 'y']],
  comprehension_nested_if: [a * b for a in [1, 2, 3] if a != 2 for b in [10, 20] if b > 10],
  comprehension_over_fields: [k for k in std.objectFields({ b: 1, a: 2 })],
  slice_basic: xs[2:5],
  slice_open_end: xs[7:],
  slice_open_start: xs[:3],
  slice_step: xs[1:9:3],
  slice_step_only: xs[::4],
  slice_all: xs[:],
  slice_past_end: xs[8:100],
  string_slice: s[3:6],
  string_slice_step: s[::2],
  index: [xs[0], xs[9], s[0], s[9]],
  concat: [1, 2] + [3] + [],
  nested: [[1, [2, [3, []]]]],
  length_mixed: std.length([null, true, 'x', [], {}]),
  equality: [[1, 2] == [1, 2], [1, [2]] == [1, [2]], [1] != [1, 2], [] == []],
  compare: [[1, 2] < [1, 3], [1, 2] < [1, 2, 0], [2] > [1, 9], [1, 2] <= [1, 2], ['b'] >= ['a', 'z']],
  string_compare: ['abc' < 'abd', 'ab' < 'abc', 'B' < 'a', 'z' >= 'z'],
  lazy_elements: std.length([error 'never evaluated', 2]),
  array_of_functions: [f(3) for f in [function(x) x + 1, function(x) x * 2]],
  in_array_via_member: std.member(xs, 4),
}
