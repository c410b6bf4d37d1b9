// Sets: sorted unique arrays, optionally keyed.
local lower(s) = std.asciiLower(s);
{
  set: [std.set([3, 1, 2, 3, 1]), std.set([]), std.set(['b', 'a', 'b'])],
  set_key: std.set(['B', 'a', 'b', 'A'], lower),
  set_inter: [std.setInter([1, 2, 3, 4], [2, 4, 6]), std.setInter([1], [])],
  set_union: [std.setUnion([1, 3, 5], [2, 3, 4]), std.setUnion([], [1])],
  set_diff: [std.setDiff([1, 2, 3, 4], [2, 4]), std.setDiff([1], [1])],
  set_member: [std.setMember(3, [1, 2, 3]), std.setMember(4, [1, 2, 3])],
  keyed_ops: [
    std.setInter([{ k: 1, v: 'a' }, { k: 2, v: 'b' }], [{ k: 2, v: 'z' }], keyF=function(o) o.k),
    std.setUnion([{ k: 1, v: 'a' }], [{ k: 1, v: 'z' }, { k: 0, v: 'y' }], keyF=function(o) o.k),
    std.setDiff([{ k: 1 }, { k: 2 }], [{ k: 1 }], keyF=function(o) o.k),
    std.setMember('B', ['a', 'b'], keyF=lower),
  ],
}
