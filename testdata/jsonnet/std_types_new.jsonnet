// Types added after C++ jsonnet 0.18: std.isNull.
{
  is_null: [std.isNull(null), std.isNull(0), std.isNull('null'), std.isNull({})],
}
