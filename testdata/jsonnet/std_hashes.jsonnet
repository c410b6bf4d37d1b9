// SHA hashes (jsonnet 0.21; the C++ implementation rejects them as go-only): lowercase hex
// digests of the UTF-8 bytes; std.sha3 is SHA3-512.
{
  sha1: [std.sha1(''), std.sha1('abc'), std.sha1('\u00e9')],
  sha256: [std.sha256(''), std.sha256('abc')],
  sha512: [std.sha512('abc')],
  sha3: [std.sha3(''), std.sha3('abc')],
}
