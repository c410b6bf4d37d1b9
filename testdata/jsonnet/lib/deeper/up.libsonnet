{ v: (import '../sibling.libsonnet').value + ' (via ..)' }
