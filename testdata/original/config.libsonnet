function(cell_config) {
  region: cell_config.region,
  app: { replicas: 2, zones: ['a', 'b'], labels: { team: 'infra', tier: 'web' } },
}
