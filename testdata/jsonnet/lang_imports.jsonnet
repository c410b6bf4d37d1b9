// import / importstr / importbin resolve relative to the importing file, also when nested.
local helper = import 'lib/helper.libsonnet';
{
  imported_object: helper,
  imported_function: helper.double(21),
  nested_relative: helper.fromSibling,
  json_file: import 'lib/data.json',
  text: importstr 'lib/text.txt',
  bytes: importbin 'lib/bytes.bin',
  parent_relative: (import 'lib/deeper/up.libsonnet').v,
  same_file_twice: (import 'lib/helper.libsonnet') == helper,
  computed_after_import: (import 'lib/helper.libsonnet') { extra: 1 },
}
