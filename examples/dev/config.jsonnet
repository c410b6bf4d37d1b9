// The dev deployment of the example library.
(import '../impl/config.libsonnet') + {
  environment: 'dev',
  api+: { debug: true },
}
