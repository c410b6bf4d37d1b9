// Imported by lang_imports.jsonnet; imports a file beside itself.
local sibling = import 'sibling.libsonnet';
{
  kind: 'helper',
  double(x):: 2 * x,
  fromSibling: sibling.value,
  siblingText: importstr 'sibling.txt',
}
