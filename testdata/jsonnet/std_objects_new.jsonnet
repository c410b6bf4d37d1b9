// Object and boolean functions added after C++ jsonnet 0.18 (0.20/0.21).
local o = { b: 2, a: 1, h:: 'hidden' };
{
  object_keys_values: std.objectKeysValues(o),
  object_keys_values_all: std.objectKeysValuesAll(o),
  object_remove_key: [std.objectRemoveKey(o, 'a'), std.objectFieldsAll(std.objectRemoveKey(o, 'h')), std.objectRemoveKey(o, 'missing')],
  xor: [std.xor(true, false), std.xor(true, true), std.xor(false, false)],
  xnor: [std.xnor(true, false), std.xnor(true, true), std.xnor(false, false)],
}
