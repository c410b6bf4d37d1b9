// Parsing: integers in bases, JSON, YAML, UTF-8 bytes.
{
  parse_int: [std.parseInt('123'), std.parseInt('-42'), std.parseInt('007')],
  parse_octal: [std.parseOctal('755'), std.parseOctal('0')],
  parse_hex: [std.parseHex('ff'), std.parseHex('DEADbeef'), std.parseHex('0')],
  parse_json: std.parseJson('{"a": [1, 2.5, "s", null, true, {"b": {}}], "e": "\\u00e9"}'),
  parse_json_scalar: [std.parseJson('12'), std.parseJson('"str"'), std.parseJson('null')],
  parse_yaml_mapping: std.parseYaml('a: 1\nb: [x, z]\nc:\n  d: true\n  e: null\n'),
  parse_yaml_block: std.parseYaml('text: |\n  line1\n  line2\nfolded: >\n  a\n  b\n'),
  parse_yaml_list: std.parseYaml('- 1\n- two\n- 3.5\n'),
  parse_yaml_scalars: std.parseYaml('s: "quoted"\nt: \'single\'\nn: null\nb: false\n'),
  encode_utf8: [std.encodeUTF8('A\u00e9\u2603'), std.encodeUTF8('')],
  decode_utf8: [std.decodeUTF8([72, 105, 195, 169, 226, 152, 131]), std.decodeUTF8([])],
}
