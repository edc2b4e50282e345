'use strict';

// Hidden triggers that feed the Event and Project dropdowns from the user's gateway.

const families = require('../lib/families');
const { gatewayUrl } = require('../lib/gateway');

/** Dropdown choices `{id, name}` for the catalog events of one family (GET /v1/event-types). */
const eventTypesOf = (family) => ({
  key: `${family.slug}_event_types`,
  noun: `${family.noun} Event Type`,
  display: {
    label: `${family.noun} Event Types`,
    description: `Lists the gateway's ${family.group} events for the Event dropdown.`,
    hidden: true,
  },
  operation: {
    perform: async (z, bundle) => {
      const response = await z.request({ url: gatewayUrl(bundle, '/v1/event-types') });
      return response.data
        .filter((type) => type.group === family.group)
        .map((type) => ({ id: type.name, name: `${type.description.replace(/\.$/, '')} (${type.name})` }));
    },
    sample: { id: 'TODO_CREATED', name: 'A record was created (TODO_CREATED)' },
  },
});

/** Dropdown choices `{id, name}` for the projects the gateway has seen (GET /v1/zapier/projects). */
const projects = {
  key: 'projects',
  noun: 'Project',
  display: {
    label: 'Projects',
    description: "Lists the projects in the gateway's recent events and webhooks for the Project dropdown.",
    hidden: true,
  },
  operation: {
    perform: async (z, bundle) => {
      const response = await z.request({ url: gatewayUrl(bundle, '/v1/zapier/projects') });
      return response.data.map((project) => ({
        id: project.id,
        name: project.name ? `${project.name} (${project.id})` : project.id,
      }));
    },
    sample: { id: 'project_1', name: 'Website Relaunch (project_1)' },
  },
};

module.exports = [...families.map(eventTypesOf), projects];
