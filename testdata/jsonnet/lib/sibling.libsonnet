{ value: 'found beside helper.libsonnet' }
