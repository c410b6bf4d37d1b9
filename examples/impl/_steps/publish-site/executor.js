// Publishes a built site into a "bucket": a local directory standing in for object storage. A
// real bucket lives outside the runner; this one is the stage's runtime state, so it lives in
// the stage's own OUTPUT_DIR/<stage>/ (README, "Where state lives in CI").
const fs = require('fs');
const path = require('path');

exports.default = async (inputs, target, context) => {
  const bucket = path.join(process.env.OUTPUT_DIR, process.env.STAGE_NAME, inputs.bucket);
  if (inputs.action.type === 'remove') {
    fs.rmSync(bucket, { recursive: true, force: true });
    context.print(`removed bucket ${inputs.bucket}`);
    return;
  }
  const { siteDir, assets, retries } = inputs.action;
  context.printVerbose(`publishing ${siteDir} with up to ${retries} retries`);
  fs.mkdirSync(bucket, { recursive: true });
  const pages = fs.readdirSync(siteDir).filter((name) => name.endsWith('.html'));
  // A sync: a page the site no longer has leaves the bucket too.
  fs.readdirSync(bucket)
    .filter((name) => name.endsWith('.html') && !pages.includes(name))
    .forEach((name) => fs.rmSync(path.join(bucket, name)));
  pages.forEach((name, i) => {
    fs.copyFileSync(path.join(siteDir, name), path.join(bucket, name));
    context.updateProgress(Math.round(((i + 1) * 100) / pages.length), `uploaded ${name}`);
  });
  fs.copyFileSync(path.join(assets.extractedToPath, 'banner.txt'), path.join(bucket, 'banner.txt'));
  // The access key is a secret: betterform masks it wherever it would be printed.
  context.print(`signed the upload with ${inputs.accessKey}`);
  fs.writeFileSync('manifest.txt', `${pages.join('\n')}\nbanner.txt\n`);
  context.createArtifact('manifest.txt', 'upload-manifest.txt');
  context.setOctopusVariable('url', `bucket://${inputs.bucket}/index.html`);
  // Relative to OUTPUT_DIR, as every path in outputs: it holds in any checkout.
  context.setOctopusVariable('bucket_dir', path.relative(process.env.OUTPUT_DIR, bucket));
  context.setOctopusVariable('pages', String(pages.length));
  context.setOctopusVariable('uploadToken', `upl-${inputs.bucket}-${Date.now()}`, true);
  context.print(`published ${pages.length} pages to bucket ${inputs.bucket}`);
};
