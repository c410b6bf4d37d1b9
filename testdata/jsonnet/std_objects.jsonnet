// Objects, booleans, merge patch.
local o = { b: 2, a: 1, h:: 'hidden', n: null };
{
  get: [std.get(o, 'a'), std.get(o, 'zz'), std.get(o, 'zz', 'dflt'), std.get(o, 'h'), std.get(o, 'h', 'd', inc_hidden=false), std.get(o, 'n', 'd')],
  object_has: [std.objectHas(o, 'a'), std.objectHas(o, 'h'), std.objectHas(o, 'zz')],
  object_has_all: [std.objectHasAll(o, 'h'), std.objectHasAll(o, 'zz')],
  object_has_ex: [std.objectHasEx(o, 'h', true), std.objectHasEx(o, 'h', false)],
  object_fields: std.objectFields(o),
  object_fields_all: std.objectFieldsAll(o),
  object_fields_ex: std.objectFieldsEx(o, true),
  object_values: std.objectValues(o),
  object_values_all: std.objectValuesAll(o),
  map_with_key: std.mapWithKey(function(k, v) k + '=' + v, { x: 1, y: 'z' }),
  merge_patch: [
    std.mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 }, f: 5 }),
    std.mergePatch({ a: 1 }, 'replaced'),
    std.mergePatch([1, 2], { a: 1 }),
    std.mergePatch({ a: [1, 2] }, { a: [3] }),
    std.mergePatch({ a: 1 }, { a: null, b: null }),
    std.mergePatch({ keep: 1, h:: 2 }, {}),
  ],
}
