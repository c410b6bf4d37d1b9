// An Octopus-format executor: (inputs, target, context), default export.
const fs = require('fs');
const path = require('path');

exports.default = async (inputs, target, context) => {
  const config = fs.readFileSync(path.join(inputs.site.extractedToPath, 'config', 'app.json'), 'utf8');
  context.print(`container=${inputs.containerName} retries=${inputs.retries} (${typeof inputs.retries})`);
  context.print(`verbose=${inputs.verbose} vpc=${inputs.vpc} files=${inputs.filesToInclude.files.map((f) => f.glob).join(',')}`);
  context.print(`site config: ${config.trim()}`);
  context.print(`stage=${context.getOctopusVariable('Stage.Name')} token=${inputs.apiToken}`);
  context.printVerbose('verbose detail');
  context.printWarning('careful');
  context.updateProgress(50, 'half way');
  fs.writeFileSync('report.txt', `deployed ${inputs.containerName}\n`);
  context.createArtifact('report.txt', 'deploy-report.txt');
  context.setOctopusVariable('url', `https://${inputs.containerName}.example`);
  context.setOctopusVariable('token', `issued-${inputs.apiToken}`, true);
  if (inputs.mode === 'fail') context.failStep(`upload refused for ${inputs.containerName}`);
  if (inputs.mode === 'throw') throw new Error(`boom with ${inputs.apiToken}`);
  if (inputs.mode === 'exit') process.exit(7);
};
