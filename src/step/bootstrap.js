// betterform's node bootstrapper for step packages (shipped inside the betterform binary).
// Loads the package's executor.js, calls its default export with the inputs and a context,
// and talks back to betterform through ##octopus[...] service messages on stdout.
'use strict';

const fs = require('fs');
const path = require('path');

const env = process.env;
const encode = (value) => Buffer.from(String(value), 'utf8').toString('base64');

function message(name, attributes) {
  const parts = Object.entries(attributes || {})
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => `${key}='${encode(value)}'`);
  process.stdout.write(`##octopus[${[name, ...parts].join(' ')}]\n`);
}

function printAt(level, text) {
  process.stdout.write(`##octopus[stdout-${level}]\n${text}\n##octopus[stdout-default]\n`);
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const inputs = readJson(env.BETTERFORM_STEP_INPUTS);
const variables = env.BETTERFORM_STEP_VARIABLES ? readJson(env.BETTERFORM_STEP_VARIABLES) : {};
// step.json's "target" (an empty object without one).
const target = env.BETTERFORM_STEP_TARGET ? readJson(env.BETTERFORM_STEP_TARGET) : {};

class StepFailed extends Error {}

const context = {
  print: (text) => process.stdout.write(`${text}\n`),
  printVerbose: (text) => printAt('verbose', text),
  printWarning: (text) => printAt('warning', text),
  printHighlight: (text) => printAt('highlight', text),
  updateProgress: (percentage, text) => message('progress', { percentage, message: text }),
  getOctopusVariable: (name) => {
    if (Object.prototype.hasOwnProperty.call(variables, name)) return variables[name];
    if (name.startsWith('Env.')) return env[name.slice(4)];
    return undefined;
  },
  setOctopusVariable: (name, value, sensitive) => {
    variables[name] = String(value);
    message('setVariable', { name, value, sensitive: sensitive ? 'True' : undefined });
  },
  createArtifact: (file, name) => {
    const absolute = path.resolve(file);
    message('createArtifact', { path: absolute, name: name || path.basename(absolute) });
  },
  failStep: (reason) => {
    message('resultMessage', { message: reason });
    throw new StepFailed(reason);
  },
};

function fail(error) {
  if (!(error instanceof StepFailed)) {
    const reason = error && error.message ? error.message : String(error);
    message('resultMessage', { message: reason });
    if (error && error.stack) printAt('verbose', error.stack);
  }
  process.exitCode = 1;
}

process.on('unhandledRejection', (error) => {
  fail(error);
  process.exit(1);
});

(async () => {
  // eslint-disable-next-line global-require, import/no-dynamic-require
  const loaded = require(env.BETTERFORM_STEP_EXECUTOR);
  const handler = typeof loaded === 'function' ? loaded : loaded && loaded.default;
  if (typeof handler !== 'function') {
    throw new Error(`${env.BETTERFORM_STEP_EXECUTOR} has no default export function`);
  }
  // Octopus handlers take (inputs, target, context); the documented form takes one object.
  if (handler.length >= 2) {
    await handler(inputs, target, context);
  } else {
    await handler({ inputs, target, context });
  }
})().catch(fail);
