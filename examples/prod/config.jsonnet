// The prod deployment of the example library: more pages, more replicas.
(import '../impl/config.libsonnet') + {
  environment: 'prod',
  site+: { pages+: ['pricing', 'contact'] },
  api+: { port: 443, replicas: 3 },
}
