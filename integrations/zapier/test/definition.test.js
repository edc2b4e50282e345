'use strict';

// The app definition as `zapier validate` and `zapier push` check it; needs no gateway.

// zapier-platform-core reads this when loaded: under test it logs no memory statistics per call.
process.env.NODE_ENV = process.env.NODE_ENV || 'test';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const { compileApp, validateApp } = require('zapier-platform-core/src/tools/schema');

const App = require('../index');
const families = require('../lib/families');

test('the app definition passes the Zapier platform schema', () => {
  assert.deepEqual(validateApp(compileApp(App)), []);
});

test('one instant trigger per event family, fed by the event and project dropdowns', () => {
  for (const family of families) {
    const trigger = App.triggers[`${family.slug}_event`];
    assert.equal(trigger.operation.type, 'hook');
    const [event, project] = trigger.operation.inputFields;
    assert.equal(event.dynamic, `${family.slug}_event_types.id.name`);
    assert.equal(event.required, true);
    assert.equal(project.dynamic, 'projects.id.name');
    assert.equal(project.required, false);
    assert.ok(App.triggers[`${family.slug}_event_types`].display.hidden);
  }
  assert.ok(App.triggers.projects.display.hidden);
});

test('every output field has a label and the static sample has exactly the labelled keys', () => {
  for (const family of families) {
    const { outputFields, sample } = App.triggers[`${family.slug}_event`].operation;
    for (const field of outputFields) {
      assert.ok(field.label, `${family.slug}: ${field.key} has no label`);
    }
    assert.deepEqual(Object.keys(sample), outputFields.map((field) => field.key));
    assert.equal(sample.event, family.first);
  }
});
