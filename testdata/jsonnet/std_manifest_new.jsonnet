// Manifestation options added after C++ jsonnet 0.18: YAML quote_keys.
{
  yaml_doc_quote_keys_false: std.manifestYamlDoc({ simple: 1, 'has space': 2, 'true': 3 }, quote_keys=false),
  yaml_stream_quote_keys_false: std.manifestYamlStream([{ key: 'v' }], quote_keys=false),
}
