// Mathematical utilities added after C++ jsonnet 0.18 (0.20/0.21).
local r(x) = std.round(x * 1e9) / 1e9;
{
  log2: [std.log2(8), std.log2(1)],
  log10: [std.log10(1), std.log10(10)],
  atan2: [std.atan2(0, 1), r(std.atan2(1, 1)), r(std.atan2(1, -1))],
  deg2rad: [std.deg2rad(0), r(std.deg2rad(180))],
  rad2deg: [std.rad2deg(0), r(std.rad2deg(std.pi))],
  hypot: [std.hypot(3, 4), std.hypot(5, 12)],
  round: [std.round(2.5), std.round(2.4), std.round(-2.4), std.round(3)],
  is_even: [std.isEven(4), std.isEven(3), std.isEven(-2), std.isEven(4.5)],
  is_odd: [std.isOdd(3), std.isOdd(4), std.isOdd(3.5)],
  is_integer: [std.isInteger(3), std.isInteger(3.5), std.isInteger(-0)],
  is_decimal: [std.isDecimal(3.25), std.isDecimal(3)],
  pi: r(std.pi),
}
