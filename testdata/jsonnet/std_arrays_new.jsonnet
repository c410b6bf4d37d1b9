// Array functions added after C++ jsonnet 0.18 (0.19-0.21).
local xs = [3, 1, 4, 1, 5, 9, 2, 6];
{
  all_any: [std.all([true, true]), std.all([]), std.all([true, false]), std.any([false, true]), std.any([]), std.any([false])],
  sum: [std.sum(xs), std.sum([0.5, 0.25])],
  flatten_deep_array: [std.flattenDeepArray([1, [2, [3, [4, []]]], 5]), std.flattenDeepArray(7)],
  min_array: [std.minArray(xs), std.minArray(['b', 'a', 'c']), std.minArray([{ n: 3 }, { n: 1 }], keyF=function(o) o.n)],
  max_array: [std.maxArray(xs), std.maxArray(['b', 'a', 'c']), std.maxArray([{ n: 3 }, { n: 1 }], keyF=function(o) o.n)],
  min_max_empty_default: [std.minArray([], onEmpty='none'), std.maxArray([], onEmpty=0)],
  contains: [std.contains(xs, 9), std.contains(xs, 7), std.contains([], 1)],
  avg: [std.avg([1, 2, 3, 4]), std.avg([5])],
  remove: [std.remove([1, 2, 1, 3], 1), std.remove([1, 2], 5)],
  remove_at: [std.removeAt(['a', 'b', 'c'], 1), std.removeAt(['a'], 0)],
}
