'use strict';

// Blue (self-hosted): a private Zapier integration for your own Blue Gateway.

const authentication = require('./authentication');
const { addBearerToken, explainErrors } = require('./lib/gateway');
const dropdowns = require('./triggers/dropdowns');
const events = require('./triggers/events');

const byKey = (triggers) => Object.fromEntries(triggers.map((trigger) => [trigger.key, trigger]));

module.exports = {
  version: require('./package.json').version,
  platformVersion: require('zapier-platform-core').version,
  authentication,
  beforeRequest: [addBearerToken],
  afterResponse: [explainErrors],
  triggers: byKey([...events, ...dropdowns]),
};
