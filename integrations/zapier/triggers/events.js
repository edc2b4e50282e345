'use strict';

// One REST Hook trigger per event family: Zapier subscribes its hook URL through the gateway's
// /v1/zapier/subscriptions API when a Zap is turned on, and unsubscribes when it is turned off.

const families = require('../lib/families');
const { outputFieldsOf, sampleOf } = require('../lib/fields');
const { gatewayUrl } = require('../lib/gateway');

const subscribe = async (z, bundle) => {
  const body = { target_url: bundle.targetUrl, event: bundle.inputData.event };
  if (bundle.inputData.projectId) {
    body.projectId = bundle.inputData.projectId;
  }
  const response = await z.request({
    url: gatewayUrl(bundle, '/v1/zapier/subscriptions'),
    method: 'POST',
    body,
  });
  return response.data; // {id, event, target_url}: Zapier keeps it as bundle.subscribeData
};

const unsubscribe = async (z, bundle) => {
  const id = encodeURIComponent(bundle.subscribeData.id);
  const response = await z.request({
    url: gatewayUrl(bundle, `/v1/zapier/subscriptions/${id}`),
    method: 'DELETE',
  });
  return response.data;
};

// A delivery is one flat JSON object: it is the trigger's one result as it came.
const fromDelivery = (z, bundle) => [bundle.cleanedRequest];

// The samples have exactly the keys of a live delivery of the chosen event.
const samples = async (z, bundle) => {
  const event = encodeURIComponent(bundle.inputData.event);
  const response = await z.request({ url: gatewayUrl(bundle, `/v1/zapier/samples/${event}`) });
  return response.data;
};

const triggerOf = (family) => ({
  key: `${family.slug}_event`,
  noun: family.noun,
  display: {
    label: `New ${family.noun} Event`,
    description: `Triggers instantly when ${family.what} in Blue.`,
  },
  operation: {
    type: 'hook',
    inputFields: [
      {
        key: 'event',
        label: 'Event',
        required: true,
        dynamic: `${family.slug}_event_types.id.name`,
        helpText: `Which ${family.group} event starts the Zap.`,
      },
      {
        key: 'projectId',
        label: 'Project',
        required: false,
        dynamic: 'projects.id.name',
        helpText:
          'Only events of this project. Leave empty for every project (a token limited to some projects must pick one).',
      },
    ],
    performSubscribe: subscribe,
    performUnsubscribe: unsubscribe,
    perform: fromDelivery,
    performList: samples,
    outputFields: outputFieldsOf(family.group),
    sample: sampleOf(family.group, family.first),
  },
});

module.exports = families.map(triggerOf);
