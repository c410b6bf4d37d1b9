// Defaults shared by every deployment of this library; deployments override what differs.
{
  environment: error 'set environment in your config.jsonnet',
  site: {
    title: 'betterform example',
    pages: ['index', 'about'],
  },
  publish: {
    retries: 3,
  },
  api: {
    port: 8080,
    replicas: 1,
    debug: false,
  },
}
