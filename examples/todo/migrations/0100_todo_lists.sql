-- The example app's own tables; the platform's come from the top-level migrations/ (applied first).
CREATE TABLE `todo_lists_view` (
	`tenant_id` text NOT NULL,
	`generation` integer NOT NULL,
	`list_id` text NOT NULL,
	`open` integer NOT NULL,
	`done` integer NOT NULL,
	`closed` integer NOT NULL,
	`version` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `generation`, `list_id`)
);
CREATE TABLE `todo_notifications` (
	`idempotency_key` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`list_id` text NOT NULL,
	`message` text NOT NULL
);
