// Objects: fields of every visibility, self/super/$, +:, comprehensions, computed names.
local base = {
  name: 'base',
  hidden:: 'h',
  forced::: 'visible again',
  list: [1],
  nested: { a: 1, b: { c: 2 } },
  greet: 'hello ' + self.name,
};
local derived = base {
  name: 'derived',
  list+: [2],
  nested+: { b+: { d: 3 } },
  fromSuper: super.name,
  superGreet: super.greet,
  hidden: 'now visible?',
};
local dollarDerived = { a: 1, b: { c: $.a } } + { a: 7 };
local rootRef = {
  outer: 'o',
  inner: { v: $.outer, w: self.x, x: 'x' },
};
{
  derived_fields: std.objectFields(derived),
  derived_all_fields: std.objectFieldsAll(derived),
  derived: derived,
  hidden_stays_hidden_when_overridden_with_colon: std.objectHas(derived, 'hidden'),
  visible_override: std.objectHas(base { hidden::: 'x' }, 'hidden'),
  forced_visible: base.forced,
  root_ref: rootRef,
  late_binding: (base { name: 'late' }).greet,
  comprehension: { [k]: k + '!' for k in ['x', 'y', 'z'] },
  comprehension_if: { [std.toString(i)]: i * i for i in std.range(1, 6) if i % 2 == 0 },
  comprehension_nested: { [a + b]: [a, b] for a in ['p', 'q'] for b in ['1', '2'] },
  computed_names: { ['k' + 1]: 1, [if true then 'yes' else 'no']: 2 },
  null_name_omitted: { [null]: 1, kept: 2 },
  object_locals: { local two = 2, four: two * two, local sq(x) = x * x, nine: sq(3) },
  in_operator: ['name' in base, 'hidden' in base, 'nope' in base],
  in_super: (base { check: 'name' in super, check2: 'zzz' in super }),
  plus_colon_on_missing: {} + { a+: 5 },
  plus_colon_string: { s: 'a' } + { s+: 'b' },
  plus_colon_array: { s: [1] } + { s+: [2, 3] },
  plus_colon_object: { s: { a: 1 } } + { s+: { b: 2 } },
  quoted_keys: { 'with space': 1, "dq": 2, '': 3 },
  equality: [{ a: 1, b: [1, 2] } == { b: [1, 2], a: 1 }, { a: 1 } == { a: 1, h:: 2 }, { a: 1 } != { a: 2 }],
  self_in_nested_comprehension: { v: 10, arr: [self.v + i for i in [1, 2]] },
  super_chain: ({ a: 1 } + { a: super.a + 1 } + { a: super.a * 10 }).a,
  field_lookup_forms: [base['name'], base.nested.b.c, base['nested']['a']],
  object_sugar_apply: base { extra: true },
  trailing_comma: { a: 1, b: 2, },
  method_sugar: { f(x, y=2):: x + y, r: self.f(1), s: self.f(1, 5) },
  dollar_in_derived: dollarDerived.b,
  assert_in_object: { assert self.x > 0 : 'x must be positive', x: 3 },
}
