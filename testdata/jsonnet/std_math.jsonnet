// Mathematical utilities; results chosen to be exact or rounded to stay representation-stable.
local r(x) = std.floor(x * 1e9 + 0.5) / 1e9;
{
  abs: [std.abs(-3), std.abs(2.5), std.abs(-0.5)],
  sign: [std.sign(-2), std.sign(0), std.sign(7.5)],
  max_min: [std.max(3, 7), std.min(3, 7), std.max(-1.5, -2)],
  pow: [std.pow(2, 10), std.pow(9, 0.5), std.pow(2, -1)],
  exp_log: [std.exp(0), r(std.exp(1)), std.log(1), r(std.log(10))],
  exponent_mantissa: [std.exponent(8), std.mantissa(8), std.exponent(0.375), std.mantissa(0.375), std.exponent(0), std.mantissa(0)],
  floor_ceil: [std.floor(2.7), std.floor(-2.2), std.ceil(2.2), std.ceil(-2.7), std.floor(5)],
  sqrt: [std.sqrt(16), r(std.sqrt(2))],
  trig: [std.sin(0), std.cos(0), std.tan(0), r(std.sin(1)), r(std.cos(1)), r(std.tan(1))],
  inverse_trig: [std.asin(0), std.acos(1), std.atan(0), r(std.asin(1)), r(std.acos(0)), r(std.atan(1))],
  mod: [std.mod(7, 3), std.mod(-7, 3), std.mod('%s!', 'hi')],
  clamp: [std.clamp(-3, 0, 5), std.clamp(3, 0, 5), std.clamp(9, 0, 5)],
  integer_division: [std.floor(7 / 2), 7 % 2],
}
