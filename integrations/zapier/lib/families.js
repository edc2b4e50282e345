'use strict';

// The event families of the gateway's catalog (the `group` of GET /v1/event-types): one trigger each.
// `first` is the family's first catalog event, used in the trigger's static sample.
const family = (group, slug, noun, first, what) => ({ group, slug, noun, first, what });

module.exports = [
  family('record', 'record', 'Record', 'TODO_CREATED', 'a record is created, changed, moved or deleted'),
  family('checklist', 'checklist', 'Checklist', 'TODO_CHECKLIST_CREATED', 'a checklist or one of its items changes'),
  family('list', 'list', 'List', 'TODO_LIST_CREATED', 'a list is created, renamed or deleted'),
  family('custom field', 'custom_field', 'Custom Field', 'CUSTOM_FIELD_CREATED', 'a custom field changes'),
  family('tag', 'tag', 'Tag', 'TAG_CREATED', 'a tag is created, changed or deleted'),
  family('comment', 'comment', 'Comment', 'COMMENT_CREATED', 'a comment is posted, edited or deleted'),
];
