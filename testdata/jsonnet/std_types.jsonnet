// Types and reflection: std.type, std.length, std.is*, std.prune, std.isNull, std.extVar.
local values = [null, true, 0, 'x', [], {}, function(x) x];
{
  type: [std.type(v) for v in values],
  is_array: [std.isArray(v) for v in values],
  is_boolean: [std.isBoolean(v) for v in values],
  is_function: [std.isFunction(v) for v in values],
  is_number: [std.isNumber(v) for v in values],
  is_object: [std.isObject(v) for v in values],
  is_string: [std.isString(v) for v in values],
  length: [std.length('abc'), std.length([1, 2]), std.length({ a: 1, h:: 2 }), std.length(function(a, b) a)],
  prune: std.prune({ a: null, b: [], c: {}, d: [null, 1, {}, [[]]], e: { f: null, g: 0 }, h: '', i: false }),
  prune_array: std.prune([null, [null], { x: null }, 3]),
  ext_str: std.extVar('corpus_str'),
  ext_code: std.extVar('corpus_code'),
  primitive_equals: [std.primitiveEquals(1, 1), std.primitiveEquals('a', 'b')],
  equals: std.equals({ a: [1] }, { a: [1] }),
}
