'use strict';

const { gatewayUrl } = require('./lib/gateway');

// API-key style ("custom") authentication: the user's own gateway and one of its tokens.
module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'baseUrl',
      label: 'Gateway URL',
      type: 'string',
      required: true,
      helpText:
        'The address of your Blue Gateway as Zapier can reach it, e.g. `https://blue-gateway.example.com`.',
    },
    {
      key: 'token',
      label: 'Gateway token',
      type: 'password',
      required: true,
      helpText: 'A token made with `blue-gateway tokens create` that has the `manage` scope.',
    },
  ],
  test: async (z, bundle) => {
    const response = await z.request({ url: gatewayUrl(bundle, '/v1/zapier/me') });
    return response.data;
  },
  connectionLabel: (z, bundle) => {
    const me = bundle.inputData || {};
    const user = (me.user && me.user.id) || '?';
    const company = (me.company && me.company.id) || '?';
    return `${user} @ ${company}`;
  },
};
