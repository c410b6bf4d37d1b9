// Encodings and hashes available in the C++ implementation.
{
  base64: [std.base64('hello'), std.base64(''), std.base64('ab'), std.base64([0, 255, 128, 7])],
  base64_decode: [std.base64Decode('aGVsbG8='), std.base64Decode('')],
  base64_decode_bytes: [std.base64DecodeBytes('AP+ABw=='), std.base64DecodeBytes('YWI=')],
  md5: [std.md5(''), std.md5('The quick brown fox jumps over the lazy dog'), std.md5('\u00e9')],
}
