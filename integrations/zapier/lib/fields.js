'use strict';

// Labels for the flat keys the gateway sends (templates/zapier/flat.j2), per event family, in the order
// the gateway sends them. The app's tests check these keys against a live delivery and the samples.

const COMMON = [
  { key: 'event', label: 'Event' },
  { key: 'event_id', label: 'Event ID', primary: true },
  { key: 'occurred_at', label: 'Occurred At', type: 'datetime' },
  { key: 'company_id', label: 'Company ID' },
  { key: 'project_id', label: 'Project ID' },
  { key: 'user_id', label: 'Changed By (User ID)' },
];

const FAMILY_FIELDS = {
  record: [
    { key: 'record_id', label: 'Record ID' },
    { key: 'record_title', label: 'Record Title' },
    { key: 'record_text', label: 'Record Description' },
    { key: 'record_done', label: 'Record Done', type: 'boolean' },
    { key: 'record_archived', label: 'Record Archived', type: 'boolean' },
    { key: 'record_due_at', label: 'Record Due At', type: 'datetime' },
    { key: 'record_started_at', label: 'Record Started At', type: 'datetime' },
    { key: 'record_created_at', label: 'Record Created At', type: 'datetime' },
    { key: 'record_updated_at', label: 'Record Updated At', type: 'datetime' },
    { key: 'list_id', label: 'List ID' },
    { key: 'list_title', label: 'List' },
    { key: 'project_name', label: 'Project' },
    { key: 'assignee_names', label: 'Assignees' },
    { key: 'assignee_emails', label: 'Assignee Emails' },
    { key: 'tags', label: 'Tags' },
    { key: 'custom_fields', label: 'Custom Fields' },
    { key: 'previous_title', label: 'Previous Title' },
    { key: 'previous_list_title', label: 'Previous List' },
    { key: 'previous_done', label: 'Previously Done', type: 'boolean' },
    { key: 'previous_due_at', label: 'Previous Due At', type: 'datetime' },
  ],
  checklist: [
    { key: 'checklist_id', label: 'Checklist ID' },
    { key: 'checklist_title', label: 'Checklist' },
    { key: 'item_id', label: 'Checklist Item ID' },
    { key: 'item_title', label: 'Checklist Item' },
    { key: 'item_done', label: 'Checklist Item Done', type: 'boolean' },
    { key: 'item_due_at', label: 'Checklist Item Due At', type: 'datetime' },
    { key: 'item_assignee_names', label: 'Checklist Item Assignees' },
    { key: 'record_id', label: 'Record ID' },
    { key: 'record_title', label: 'Record Title' },
    { key: 'list_title', label: 'List' },
    { key: 'project_name', label: 'Project' },
    { key: 'previous_title', label: 'Previous Title' },
    { key: 'previous_done', label: 'Previously Done', type: 'boolean' },
    { key: 'previous_due_at', label: 'Previous Due At', type: 'datetime' },
  ],
  list: [
    { key: 'list_id', label: 'List ID' },
    { key: 'list_title', label: 'List' },
    { key: 'list_completed', label: 'List Completed', type: 'boolean' },
    { key: 'project_name', label: 'Project' },
    { key: 'previous_title', label: 'Previous Title' },
  ],
  'custom field': [
    { key: 'custom_field_id', label: 'Custom Field ID' },
    { key: 'custom_field_name', label: 'Custom Field' },
    { key: 'custom_field_type', label: 'Custom Field Type' },
    { key: 'custom_field_description', label: 'Custom Field Description' },
    { key: 'custom_field_options', label: 'Custom Field Options' },
    { key: 'project_name', label: 'Project' },
    { key: 'previous_name', label: 'Previous Name' },
  ],
  tag: [
    { key: 'tag_id', label: 'Tag ID' },
    { key: 'tag_title', label: 'Tag' },
    { key: 'tag_color', label: 'Tag Color' },
    { key: 'project_name', label: 'Project' },
    { key: 'previous_title', label: 'Previous Title' },
    { key: 'previous_color', label: 'Previous Color' },
  ],
  comment: [
    { key: 'comment_id', label: 'Comment ID' },
    { key: 'comment_text', label: 'Comment' },
    { key: 'comment_author_name', label: 'Comment Author' },
    { key: 'comment_author_email', label: 'Comment Author Email' },
    { key: 'record_id', label: 'Record ID' },
    { key: 'record_title', label: 'Record Title' },
    { key: 'project_name', label: 'Project' },
    { key: 'previous_text', label: 'Previous Text' },
  ],
};

/** The output fields of one family's trigger: the common keys, then the family's. */
const outputFieldsOf = (group) => [...COMMON, ...FAMILY_FIELDS[group]];

const PLACEHOLDERS = { boolean: false, datetime: '2026-03-03T10:30:00.000Z' };

/** A static sample for the Zap editor when the gateway cannot be asked: every key, placeholder values. */
const sampleOf = (group, event) =>
  Object.fromEntries(
    outputFieldsOf(group).map((field) => {
      if (field.key === 'event') {
        return [field.key, event];
      }
      return [field.key, field.key in PLACEHOLDERS ? PLACEHOLDERS[field.key] : PLACEHOLDERS[field.type] ?? field.label];
    }),
  );

module.exports = { COMMON, FAMILY_FIELDS, outputFieldsOf, sampleOf };
