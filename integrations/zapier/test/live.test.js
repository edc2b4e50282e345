'use strict';

// The app against a live Blue Gateway, through zapier-platform-core's app tester, the way Zapier runs it:
// connect, fill the dropdowns, turn a Zap on (subscribe), receive a live delivery at a Zap-like hook,
// load samples, turn the Zap off (unsubscribe).
//
//   ZAPIER_TEST_GATEWAY_URL  the gateway, e.g. http://127.0.0.1:8080
//   ZAPIER_TEST_TOKEN        a company-admin token with the manage and ingest scopes
//   ZAPIER_TEST_HOOK_URL     where the gateway should deliver (stands in for Zapier's hook URL)
//   ZAPIER_TEST_INBOX_URL    answers GET with a JSON array of the bodies that hook received

// zapier-platform-core reads this when loaded: under test it logs no memory statistics per call.
process.env.NODE_ENV = process.env.NODE_ENV || 'test';

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const zapier = require('zapier-platform-core');

const App = require('../index');
const families = require('../lib/families');

const VARIABLES = {
  gateway: 'ZAPIER_TEST_GATEWAY_URL',
  token: 'ZAPIER_TEST_TOKEN',
  hook: 'ZAPIER_TEST_HOOK_URL',
  inbox: 'ZAPIER_TEST_INBOX_URL',
};
const env = Object.fromEntries(Object.entries(VARIABLES).map(([key, name]) => [key, process.env[name]]));
const missing = Object.entries(VARIABLES)
  .filter(([key]) => !env[key])
  .map(([, name]) => name);
const skip = missing.length ? `no live gateway: set ${missing.join(', ')}` : false;

const appTester = zapier.createAppTester(App);
const authData = { baseUrl: `${env.gateway}/`, token: env.token }; // a trailing slash, as users type it
const PROJECT = `zap-project-${Date.now()}`;
const OTHER_PROJECT = `${PROJECT}-other`;

const gateway = async (method, path, body) => {
  const response = await fetch(`${env.gateway}${path}`, {
    method,
    headers: { Authorization: `Bearer ${env.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
};

const recordCreated = (project, title) => ({
  event: 'TODO_CREATED',
  user: { id: 'zap-user' },
  currentValue: {
    id: `todo-${title}`,
    title,
    todoList: { id: 'list-1', title: 'To do', projectId: project, project: { id: project, name: 'Zap Project' } },
  },
});

// Polls for exactly what is asserted, with a deadline that only costs time when the test fails anyway.
const eventually = async (check, what, timeoutMs = 30000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const sortedKeys = (object) => Object.keys(object).sort();

describe('the Zapier app against a live gateway', { skip }, () => {
  let catalog;
  let subscription;
  let live;

  before(async () => {
    catalog = await gateway('GET', '/v1/event-types');
  });

  after(async () => {
    if (subscription) {
      // A failed run must not leave a subscription behind; a 404 means it is already gone.
      await fetch(`${env.gateway}/v1/zapier/subscriptions/${subscription.id}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${env.token}` },
      });
    }
  });

  test('authenticates with the gateway URL and token, and names the connection', async () => {
    const me = await appTester(App.authentication.test, { authData });
    assert.equal(typeof me.company.id, 'string');
    assert.equal(typeof me.user.id, 'string');
    const label = await appTester(App.authentication.connectionLabel, { authData, inputData: me });
    assert.equal(label, `${me.user.id} @ ${me.company.id}`);
  });

  test('refuses a wrong token with the gateway 401 reason', async () => {
    await assert.rejects(
      appTester(App.authentication.test, { authData: { ...authData, token: 'not-a-token' } }),
      /refused the token \(401/,
    );
  });

  test('lists the catalog events of each family in its Event dropdown', async () => {
    const offered = [];
    for (const family of families) {
      const choices = await appTester(App.triggers[`${family.slug}_event_types`].operation.perform, { authData });
      const expected = catalog.filter((type) => type.group === family.group).map((type) => type.name);
      assert.ok(expected.length > 0, `the catalog has no ${family.group} events`);
      assert.deepEqual(
        choices.map((choice) => choice.id),
        expected,
      );
      for (const choice of choices) {
        assert.match(choice.name, new RegExp(`\\(${choice.id}\\)$`));
      }
      offered.push(...expected);
    }
    // The gateway's own events (its `gateway` group: a webhook turned unhealthy...) are for operators and are
    // not offered as Zap triggers; every event of Blue is.
    const blue = catalog.filter((type) => type.group !== 'gateway').map((type) => type.name);
    assert.deepEqual(offered.sort(), blue.sort(), 'every Blue event in the catalog has a trigger');
  });

  test('lists the projects of recent events in the Project dropdown', async () => {
    await gateway('POST', '/v1/events', recordCreated(PROJECT, 'makes the project known'));
    const choices = await appTester(App.triggers.projects.operation.perform, { authData });
    assert.deepEqual(
      choices.find((choice) => choice.id === PROJECT),
      { id: PROJECT, name: `Zap Project (${PROJECT})` },
    );
  });

  test('subscribes the hook URL when the Zap is turned on', async () => {
    subscription = await appTester(App.triggers.record_event.operation.performSubscribe, {
      authData,
      targetUrl: env.hook,
      inputData: { event: 'TODO_CREATED', projectId: PROJECT },
    });
    assert.equal(typeof subscription.id, 'string');
    assert.equal(subscription.event, 'TODO_CREATED');
    assert.equal(subscription.target_url, env.hook);
  });

  test('a live event of the project is delivered to the hook and becomes the trigger result', async () => {
    const elsewhere = await gateway('POST', '/v1/events', recordCreated(OTHER_PROJECT, 'another project'));
    assert.equal(elsewhere.deliveries, 0, 'an event of another project is not sent to this Zap');
    const title = `live ${Date.now()}`;
    const accepted = await gateway('POST', '/v1/events', recordCreated(PROJECT, title));
    assert.equal(accepted.deliveries, 1);

    live = await eventually(async () => {
      const received = await (await fetch(env.inbox)).json();
      return received.find((body) => body.record_title === title);
    }, 'the delivery at the hook');
    assert.equal(live.event, 'TODO_CREATED');
    assert.equal(live.project_id, PROJECT);
    assert.equal(live.user_id, 'zap-user');

    const results = await appTester(App.triggers.record_event.operation.perform, {
      authData,
      cleanedRequest: live,
    });
    assert.deepEqual(results, [live]);
  });

  test('samples have exactly the keys of the live delivery, and every key has a label', async () => {
    assert.ok(live, 'needs the live delivery');
    const samples = await appTester(App.triggers.record_event.operation.performList, {
      authData,
      inputData: { event: 'TODO_CREATED', projectId: PROJECT },
    });
    assert.ok(samples.length >= 1 && samples.length <= 3);
    for (const sample of samples) {
      assert.deepEqual(sortedKeys(sample), sortedKeys(live));
    }
    const labelled = App.triggers.record_event.operation.outputFields.map((field) => field.key);
    assert.deepEqual(labelled.sort(), sortedKeys(live));
  });

  test("every family's output fields label exactly the keys of its events' samples", async () => {
    for (const family of families) {
      const trigger = App.triggers[`${family.slug}_event`].operation;
      const labelled = trigger.outputFields.map((field) => field.key).sort();
      for (const type of catalog.filter((t) => t.group === family.group)) {
        const [sample] = await appTester(trigger.performList, { authData, inputData: { event: type.name } });
        assert.deepEqual(sortedKeys(sample), labelled, `${type.name}: sample keys differ from the labels`);
      }
    }
  });

  test('unsubscribes when the Zap is turned off, and the project gets no more deliveries', async () => {
    const answer = await appTester(App.triggers.record_event.operation.performUnsubscribe, {
      authData,
      subscribeData: subscription,
    });
    assert.deepEqual(answer, { id: subscription.id, deleted: true });
    subscription = undefined;
    const accepted = await gateway('POST', '/v1/events', recordCreated(PROJECT, 'after the Zap is off'));
    assert.equal(accepted.deliveries, 0);
  });
});
