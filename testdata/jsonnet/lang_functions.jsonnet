// Functions: defaults, named arguments, closures, recursion, tailstrict, higher order.
local add(a, b=10, c=100) = a + b + c;
local fact(n) = if n <= 1 then 1 else n * fact(n - 1);
local sumTo(n, acc=0) = if n == 0 then acc else sumTo(n - 1, acc + n) tailstrict;
local makeCounter(start) = function(step) start + step;
local compose(f, g) = function(x) f(g(x));
local defaultsSeeOthers(a, b=a * 2, c=a + b) = [a, b, c];
local ignoresUnused(x, y) = x;
{
  positional: add(1, 2, 3),
  defaults: add(1),
  named: add(1, c=0),
  named_only: add(b=1, a=2, c=3),
  default_refers_to_param: defaultsSeeOthers(3),
  default_refers_override: defaultsSeeOthers(3, c=0),
  recursion: fact(10),
  tail_strict: sumTo(100),
  closure: makeCounter(40)(2),
  compose: compose(function(x) x * 3, function(x) x + 1)(4),
  anonymous: (function(x, y=2) x * y)(21),
  lazy_args: ignoresUnused(1, error 'not evaluated'),
  function_returning_object: (function(n) { n: n, double: n * 2 })(4),
  local_chain: local a = 1, b = a + 1, c = b + 1; [a, b, c],
  mutual_recursion: local isEven(n) = if n == 0 then true else isOdd(n - 1), isOdd(n) = if n == 0 then false else isEven(n - 1); [isEven(10), isOdd(7)],
  std_function_as_value: std.map(std.toString, [1, 2]),
  is_function: [std.isFunction(add), std.isFunction(std.length), std.isFunction(1)],
  trailing_comma_args: add(1, 2,),
}
