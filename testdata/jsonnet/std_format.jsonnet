// std.format and the % operator: every conversion, flags, width, precision, * and mapping keys.
local f = std.format;
{
  strings: [f('%s|%5s|%-5s|%.2s', ['abc', 'ab', 'ab', 'abcdef']), f('%s', [[1, 2]]), f('%s', [{ a: 1 }]), f('%s', [null])],
  integers: [f('%d|%i|%u', [42, -7, 3]), f('%5d|%-5d|%05d', [42, 42, 42]), f('%+d|% d|%+d', [5, 5, -5]), f('%d', [3.9]), f('%d', [-3.9])],
  octal_hex: [f('%o|%#o', [8, 8]), f('%x|%X|%#x|%#X', [255, 255, 255, 255]), f('%08x', [48879]), f('%x', [-255])],
  floats_f: [f('%f', [3.14159]), f('%.2f|%.0f|%#.0f', [2.675, 2.5, 3]), f('%10.3f|%-10.3f|', [3.14159, 3.14159]), f('%+.1f', [1]), f('%F', [1.5])],
  floats_e: [f('%e', [12345.678]), f('%.2E', [0.000123]), f('%e', [0]), f('%.0e', [5])],
  floats_g: [f('%g', [0.0001]), f('%g', [123456789]), f('%g', [100]), f('%.3g', [3.14159]), f('%G', [1e-10]), f('%#g', [1])],
  char: [f('%c', [65]), f('%c', ['z'])],
  percent: f('100%%', []),
  star_width: [f('%*d', [6, 42]), f('%-*s|', [4, 'a']), f('%.*f', [3, 1])],
  mapping_keys: f('%(a)s-%(b)05d-%(c).1f', { a: 'x', b: 7, c: 2.25 }),
  operator_single: '%05.1f' % 3.14159,
  operator_array: '%s=%s' % ['k', 'v'],
  operator_object: '%(k)s' % { k: 'v' },
  large_numbers: [f('%d', [1e15]), f('%.3f', [1e10])],
}
